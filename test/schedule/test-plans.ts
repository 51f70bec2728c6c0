// Plans for the scheduler, retention and hook tests: a tiny qcow2 source in a temp dir, backed
// up into a repository in the same dir, with a random high port range.

import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { loadPlanText } from '../../src/plan/load.js';
import type { Plan } from '../../src/plan/types.js';
import { qemuImg, qemuIo } from '../support/images.js';
import { claimPortRange } from '../support/port-slots.js';

export interface Sandbox {
  readonly dir: string;
  readonly source: string;
  readonly repository: string;
  readonly db: string;
  readonly ports: string;
  remove(): void;
}

// A temp dir with an 8 MiB qcow2 source holding 1 MiB of data.
export function makeSandbox(prefix: string): Sandbox {
  const dir = mkdtempSync(path.join(tmpdir(), `sendense-${prefix}-`));
  const source = path.join(dir, 'source.qcow2');
  qemuImg('create', '-q', '-f', 'qcow2', source, '8M');
  qemuIo(source, 'write -P 0x11 0 1M');
  const [first, last] = claimPortRange(41);
  return {
    dir,
    source,
    repository: path.join(dir, 'repository'),
    db: path.join(dir, 'state.db'),
    ports: `${first}-${last}`,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// The plan document for the sandbox's source; `extra` adds or overrides top-level keys.
export function planDoc(box: Sandbox, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: 1,
    kind: 'incremental',
    name,
    vm: { name: `vm-${name}`, source: { type: 'qemu', disks: [{ key: 2000, path: sourceOf(box, name) }] } },
    repository: { path: box.repository },
    nbd: { ports: box.ports },
    ...extra,
  };
}

// Each plan's VM reads an image of its own (one image under two VM names is refused: validate,
// schedule): the box's first plan reads box.source, every other one a copy of it made when its
// plan is first written.
const sources = new WeakMap<Sandbox, Map<string, string>>();
function sourceOf(box: Sandbox, name: string): string {
  const known = sources.get(box) ?? new Map<string, string>();
  sources.set(box, known);
  let source = known.get(name);
  if (source === undefined) {
    source = known.size === 0 ? box.source : path.join(box.dir, `source-${name}.qcow2`);
    if (source !== box.source) copyFileSync(box.source, source);
    known.set(name, source);
  }
  return source;
}

export function writePlanFile(file: string, doc: Record<string, unknown>): string {
  writeFileSync(file, stringify(doc));
  return file;
}

// The typed plan, as the loader builds it for a run.
export function planOf(doc: Record<string, unknown>, file = '/test/plan.yaml'): Plan {
  const loaded = loadPlanText(stringify(doc), file, { resolveEnv: true });
  if (loaded.plan === undefined)
    throw new Error(`test plan invalid: ${loaded.errors.map((e) => e.message).join('; ')}`);
  return loaded.plan;
}
