// Bundles the node transfer (runners/sendense-transfer.ts and the NBD client it imports) into
// one self-contained file, so the hub can copy a single file to a node that has only Node.js.
import { build } from 'esbuild';
import { transferBundleOptions } from './transfer-bundle.js';

await build({
  ...(await transferBundleOptions()),
  entryPoints: ['runners/sendense-transfer.ts'],
  outfile: 'runners/dist/sendense-transfer.mjs',
  sourcemap: false,
});
