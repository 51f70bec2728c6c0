// `npm run bench`: runs every bench/<name>.js (except this file) one after another, or only
// the names given: `npm run bench -- transfer`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((name) => name.endsWith('.js') && name !== 'run.js')
  .map((name) => name.slice(0, -3))
  .filter((name) => wanted.length === 0 || wanted.includes(name))
  .sort();
let failed = 0;
for (const name of benches) {
  console.log(`\n== bench ${name} ==`);
  const { status } = spawnSync(process.execPath, [join(here, `${name}.js`)], { stdio: 'inherit' });
  if (status !== 0) failed++;
}
if (benches.length === 0) console.log(`no bench matches ${wanted.join(' ')}`);
process.exit(failed === 0 ? 0 : 1);
