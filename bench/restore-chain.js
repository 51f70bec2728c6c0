// A long chain restores as fast as a short one: `sendense-run` restoring the point at the end of a
// 30-layer chain (a full and 29 incrementals) against the same data backed up as one full, into a
// qcow2 file on this host, with verify off and on (the default); warm-up, alternating rounds,
// medians, ratios (aim <= 1.1x). Needs `npm run build`. BENCH_RUNS=N (default 5), BENCH_TMPDIR.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli as bin, requireBuild } from './support/built.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { median } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const LAYERS = 30;
requireBuild('restore-chain');
const dir = scratchDir('sendense-bench-restore-chain-');
const yaml = (lines) => `${lines.join('\n')}\n`;
const run = (...args) =>
  timedRun([process.execPath, bin, ...args, '--quiet'], { stdin: 'ignore', env: { ...process.env, CI: '1' } });

// 1 GiB of random data in 8 MiB regions over 4 GiB; each incremental then writes 8 MiB of new
// data: half over old data, from 1 MiB into a 2 MiB range (so older ranges are covered whole and
// in part), half into a hole.
const source = join(dir, 'source.qcow2');
makeSourceImage(source, { regions: 128, size: 4 * GiB });
function backupPlan(name, kind, repository) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    yaml([
      'version: 1',
      `kind: ${kind}`,
      `name: ${name}`,
      'vm:',
      '  name: benchvm',
      '  source:',
      '    type: qemu',
      '    disks:',
      '      - key: 2000',
      `        path: ${source}`,
      `repository: { path: ${repository} }`,
      'nbd:',
      '  ports: 30560-30579',
      'retention: { keepLast: 100 }',
    ]),
  );
  return file;
}
const long = { db: join(dir, 'long.db'), repository: join(dir, 'long') };
const short = { db: join(dir, 'short.db'), repository: join(dir, 'short') };
const chainPlan = backupPlan('bench-chain', 'incremental', long.repository);
await run(chainPlan, '--db', long.db);
for (let layer = 1; layer < LAYERS; layer++) {
  const at = layer * 128 * MiB;
  execFileSync(
    'qemu-io',
    [
      '-f',
      'qcow2',
      '-c',
      `write -P ${layer + 16} ${at + 3 * MiB} 4M`,
      '-c',
      `write -P ${layer + 64} ${at + 8 * MiB} 4M`,
      source,
    ],
    { stdio: 'ignore' },
  );
  await run(chainPlan, '--db', long.db);
}
await run(backupPlan('bench-one', 'backup', short.repository), '--db', short.db);
const depth = JSON.parse(
  execFileSync(process.execPath, [bin, 'backups', '--json', '--db', long.db], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .at(-1),
);
console.log(
  `chain of ${LAYERS} layers (newest ${depth.id}, ${depth.type}) and one full of the same data, 4 GiB virtual`,
);

const out = join(dir, 'restore');
mkdirSync(out);
function restorePlan(name, from, verify) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    yaml([
      'version: 1',
      'kind: restore',
      `name: ${name}`,
      'vm: { name: benchvm }',
      `repository: { path: ${from.repository} }`,
      'nbd:',
      '  ports: 30560-30579',
      'restore:',
      '  point: latest',
      '  target:',
      '    type: file',
      `    path: ${join(out, `${name}-{key}.qcow2`)}`,
      '    format: qcow2',
      '    overwrite: true',
      `  verify: ${verify}`,
    ]),
  );
  return { file, db: from.db, result: join(out, `${name}-2000.qcow2`) };
}
const cases = {
  [`${LAYERS} layers`]: restorePlan('long', long, false),
  '1 layer': restorePlan('short', short, false),
  [`${LAYERS} layers, verified`]: restorePlan('long-verified', long, true),
  '1 layer, verified': restorePlan('short-verified', short, true),
};
const names = Object.keys(cases);
const times = Object.fromEntries(names.map((name) => [name, []]));
console.log(`restore of the newest point into a new qcow2: one warm-up round, then ${RUNS} rounds, order rotating`);
for (let round = -1; round < RUNS; round++) {
  const order = names.map((_, index) => names[(index + Math.max(round, 0)) % names.length]);
  for (const name of order) {
    const plan = cases[name];
    rmSync(plan.result, { force: true });
    const { seconds } = await run(plan.file, '--db', plan.db);
    if (round < 0) continue;
    times[name].push(seconds);
    console.log(`  ${name.padEnd(22)}${seconds.toFixed(2)} s`);
  }
}
for (const name of names) execFileSync('qemu-img', ['compare', '-q', source, cases[name].result]);
const medians = Object.fromEntries(names.map((name) => [name, median(times[name])]));
const range = (name) => `${Math.min(...times[name]).toFixed(2)}-${Math.max(...times[name]).toFixed(2)}`;
for (const name of names) console.log(`median ${name.padEnd(22)}${medians[name].toFixed(2)} s (${range(name)})`);
console.log(
  `${LAYERS} layers vs 1: ${(medians[`${LAYERS} layers`] / medians['1 layer']).toFixed(2)}x, verified ${(medians[`${LAYERS} layers, verified`] / medians['1 layer, verified']).toFixed(2)}x (aim <= 1.1x)`,
);
console.log(
  `all ${names.length} results equal to the source (qemu-img compare); load average ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim()}`,
);
