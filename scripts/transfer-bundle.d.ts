// Types of scripts/transfer-bundle.js for the TypeScript that imports it (tests, benches).
import type { BuildOptions } from 'esbuild';

/** esbuild options for a bundle of (or containing) the node transfer. */
export function transferBundleOptions(): Promise<BuildOptions>;
