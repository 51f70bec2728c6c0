// Bundles the hub CLI (src/cli/main.ts and what it imports) into dist/cli/, the code bin/sendense-run.js
// runs. Node.js spends most of a command's start-up finding and loading modules: kysely alone is
// 264 files. One bundle per command (commands are imported lazily, so esbuild splits them into
// chunks) starts `backups` in ~0.3 s instead of ~0.8 s. kysely is bundled in; the other packages
// stay in node_modules (native addons, and code that finds files beside itself).
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

const dependencies = Object.keys(JSON.parse(readFileSync('package.json', 'utf8')).dependencies);
const external = dependencies.filter((name) => name !== 'kysely').flatMap((name) => [name, `${name}/*`]);

await build({
  entryPoints: { main: 'src/cli/main.ts' },
  outdir: 'dist/cli',
  bundle: true,
  splitting: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  external,
  sourcemap: true,
  logLevel: 'warning',
});
