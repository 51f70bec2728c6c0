// Bundles the hub CLI (src/cli/main.ts and what it imports) into dist/cli/, the code bin/sendense-run.js
// runs. Node.js spends most of a command's start-up finding and loading modules: kysely alone is
// 264 files. One bundle per command (commands are imported lazily, so esbuild splits them into
// chunks) starts `backups` in ~0.3 s instead of ~0.8 s. Every pure-JavaScript package is bundled in
// (yaml alone is ~60 CommonJS files: 46 of the 220 ms `validate` took); the native addons stay in
// node_modules (better-sqlite3 and ssh2 load their compiled code from beside themselves). So the
// package's "dependencies" are only what runs from node_modules: those addons and ajv (loaded by
// the precompiled plan validator and when the schema changed); the bundled ones are devDependencies
// (docs/operations.md#the-npm-package).
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';
import { HASH_WASM_ESM } from './transfer-bundle.js';

const dependencies = Object.keys(JSON.parse(readFileSync('package.json', 'utf8')).dependencies);
const NATIVE = new Set(['better-sqlite3', 'better-sqlite3-13', 'ssh2']);
const external = dependencies.filter((name) => NATIVE.has(name)).flatMap((name) => [name, `${name}/*`]);

// Chunks are named by content: last build's would stay beside this one's.
rmSync('dist/cli', { recursive: true, force: true });
await build({
  // The FAT walker runs as a sandboxed process of its own (src/files/fast/fat-reader.ts).
  entryPoints: { main: 'src/cli/main.ts', 'fat-walker': 'src/files/fast/fat-walker.ts' },
  outdir: 'dist/cli',
  bundle: true,
  splitting: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external,
  alias: HASH_WASM_ESM,
  sourcemap: true,
  logLevel: 'warning',
  // CommonJS packages bundled into ESM still call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __sendenseCreateRequire } from 'node:module'; const require = __sendenseCreateRequire(import.meta.url);",
  },
});
