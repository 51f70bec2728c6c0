// The node transfer's bundle shares src/wire/ and src/qemu/ with the hub but none of the hub's
// own dependencies: a node gets one small file that needs nothing but Node.js.

import { build } from 'esbuild';
import { expect, it } from 'vitest';
import { transferBundleOptions } from '../../scripts/transfer-bundle.js';

it('the bundle holds the shared modules and, of node_modules, only hash-wasm (no execa, kysely, pg)', async () => {
  const result = await build({
    ...(await transferBundleOptions()),
    entryPoints: ['runners/sendense-transfer.ts'],
    outfile: 'sendense-transfer.mjs',
    write: false,
    metafile: true,
  });
  // What is in the file: an import esbuild shook out entirely (execa behind imageInfo's default) adds no byte.
  const [output] = Object.values(result.metafile!.outputs);
  const inputs = Object.entries(output!.inputs)
    .filter(([, use]) => use.bytesInOutput > 0)
    .map(([input]) => input);
  const packages = new Set(
    inputs.filter((input) => input.startsWith('node_modules/')).map((input) => input.split('/')[1]),
  );
  expect([...packages]).toEqual(['hash-wasm']);
  for (const shared of [
    'src/wire/transfer-request.ts',
    'src/wire/transfer-lines.ts',
    'src/qemu/qemu-nbd.ts',
    'src/qemu/image-info.ts',
  ])
    expect(inputs).toContain(shared);
});
