// Bundles a TypeScript entry of this repository into one ESM file for node 20 (esbuild).
import { build } from 'esbuild';
import { transferBundleOptions } from '../../scripts/transfer-bundle.js';

// Bundled the way the shipped node transfer is (its digest thread included).
export async function bundle(entry, outfile, options = {}) {
  await build({ ...(await transferBundleOptions()), entryPoints: [entry], outfile, ...options });
  return outfile;
}
