// Types of scripts/transfer-bundle.js for the TypeScript that imports it (tests, benches).
import type { BuildOptions } from 'esbuild';

/** esbuild options for a bundle of (or containing) the node transfer. */
export function transferBundleOptions(): Promise<BuildOptions>;

/** esbuild's alias of hash-wasm to its ES module build (only the xxHashes are bundled). */
export const HASH_WASM_ESM: Readonly<Record<string, string>>;
