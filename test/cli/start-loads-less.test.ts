// A run loads and compiles only the code it uses at start (docs/how-it-works.md#source-types): the
// libvirt and VMware readers, and the XML parser they need, are imported by a run of that type
// alone, never through a static import of the run command or of a backup's steps (doctor's sweep
// and a point's checkpoint deletion are imported when used). A new static import fails here.

import { build, type Metafile } from 'esbuild';
import { expect, it } from 'vitest';

// Every file the run command imports statically (import statements and require calls, not import()),
// with the file that first imports each.
async function staticGraph(entry: string): Promise<Map<string, string | undefined>> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    splitting: true,
    outdir: 'unused',
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: ['better-sqlite3', 'better-sqlite3-13', 'ssh2'],
  });
  const inputs: Metafile['inputs'] = result.metafile.inputs;
  const importedBy = new Map<string, string | undefined>([[entry, undefined]]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    for (const imported of inputs[file]?.imports ?? []) {
      if (imported.kind !== 'import-statement' && imported.kind !== 'require-call') continue;
      if (importedBy.has(imported.path)) continue;
      importedBy.set(imported.path, file);
      queue.push(imported.path);
    }
  }
  return importedBy;
}

function chain(graph: Map<string, string | undefined>, file: string): string {
  const files = [];
  for (let at: string | undefined = file; at !== undefined; at = graph.get(at)) files.unshift(at);
  return files.join(' -> ');
}

it('the run command statically imports no libvirt or VMware reader and no XML parser', async () => {
  const graph = await staticGraph('src/cli/run-command.ts');
  const loaded = [...graph.keys()];
  // The graph is the run's: its plan loading and every kind's definition are in it.
  expect(loaded).toContain('src/plan/load.ts');
  expect(loaded).toContain('src/source/libvirt-definition.ts');
  expect(unwanted(graph)).toEqual([]);
});

it("a backup run's steps statically import neither, nor doctor's sweep of every resource kind", async () => {
  const graph = await staticGraph('src/kinds/backup/index.ts');
  const loaded = [...graph.keys()];
  expect(loaded).toContain('src/kinds/backup/snapshot-source.ts');
  expect(loaded).toContain('src/retention/apply-prune.ts');
  expect(unwanted(graph, ['src/doctor/node-resources.ts', 'src/checkpoints/domain-checkpoints.ts'])).toEqual([]);
});

// What a run must not load at start, each with the chain of imports that brings it.
function unwanted(graph: Map<string, string | undefined>, more: readonly string[] = []): string[] {
  return [...graph.keys()]
    .filter(
      (file) =>
        file.includes('node_modules/@xmldom/') ||
        file === 'src/source/libvirt-source.ts' ||
        file === 'src/source/vmware-source.ts' ||
        file.startsWith('src/vmware/') ||
        more.includes(file),
    )
    .map((file) => chain(graph, file));
}
