// Bundles a TypeScript entry of this repository into one ESM file for node 20 (esbuild).
import { build } from 'esbuild';

export async function bundle(entry, outfile, options = {}) {
  await build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning', ...options });
  return outfile;
}
