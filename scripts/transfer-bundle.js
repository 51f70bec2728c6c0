// How the node transfer is bundled, wherever it is (scripts/bundle-runner.js for the shipped file,
// the tests, the benches): one self-contained ESM file for Node.js 20 and later, with the digest
// thread's code (runners/transfer/digest-worker-main.ts) inlined as a string through esbuild's
// `define`, so the thread starts without a second file on the node.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const digestWorkerEntry = fileURLToPath(new URL('../runners/transfer/digest-worker-main.ts', import.meta.url));

// hash-wasm's "main" is one UMD file with every algorithm's WebAssembly (280 KB to parse at each
// start); its ES module build lets esbuild keep only the xxHashes we call.
export const HASH_WASM_ESM = {
  'hash-wasm': fileURLToPath(new URL('../node_modules/hash-wasm/dist/index.esm.js', import.meta.url)),
};

/** esbuild options for a bundle of (or containing) the node transfer. */
export async function transferBundleOptions() {
  const worker = await build({
    entryPoints: [digestWorkerEntry],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    alias: HASH_WASM_ESM,
    write: false,
    logLevel: 'warning',
  });
  return {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    alias: HASH_WASM_ESM,
    logLevel: 'warning',
    define: { SENDENSE_DIGEST_WORKER: JSON.stringify(worker.outputFiles[0].text) },
  };
}
