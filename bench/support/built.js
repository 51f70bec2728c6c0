// Where the repository is, and the benches that run the built CLI refusing to start without it.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cli = join(root, 'bin', 'sendense-run.js');
export const builtRunner = join(root, 'runners', 'dist', 'sendense-transfer.mjs');

export function requireBuild(bench) {
  for (const built of [join(root, 'dist', 'src', 'cli', 'main.js'), builtRunner]) {
    if (!existsSync(built)) {
      console.error(`bench ${bench}: ${built} is missing: run npm run build first`);
      process.exit(1);
    }
  }
}
