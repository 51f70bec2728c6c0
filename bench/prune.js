// Retention by points: pruning one point of a chain whose full holds 2 GiB and whose incrementals
// hold 1% each, against the time of the full backup (docs/how-it-works.md#retention: the work is the merged
// layer, not the disk). A 4 GiB qcow2 source; a full and three 1%-dirty incrementals through the
// real CLI; then `sendense-run prune` merges an incremental into the next one (keepDaily, its time
// moved onto the next point's day), then folds the full forward (keepLast). Space before/after.
// BENCH_PRUNE_REGIONS=N (8 MiB data regions, default 256 = 2 GiB), BENCH_TMPDIR (default /var/tmp).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, requireBuild, root } from './support/built.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { timedRun } from './support/timed-run.js';

const MiB = 1024 * 1024;
const REGIONS = Number(process.env.BENCH_PRUNE_REGIONS ?? 256);
requireBuild('prune');
const { SqliteDatabase } = await import(join(root, 'dist', 'src', 'store', 'sqlite-driver.js'));
const dir = scratchDir('sendense-bench-prune-');
const source = join(dir, 'source.qcow2');
const size = makeSourceImage(source, { regions: REGIONS, size: REGIONS * 16 * MiB });
const dataBytes = REGIONS * 8 * MiB;
const repository = join(dir, 'repository');
const db = join(dir, 'state.db');
const port = 31000 + Math.floor(Math.random() * 200) * 10;

function writePlan(name, retention) {
  const file = join(dir, `${name}.yaml`);
  const lines = [
    'version: 1',
    'kind: incremental',
    'name: bench-prune',
    'timezone: UTC',
    'vm:',
    '  name: benchvm',
    '  source:',
    '    type: qemu',
    '    disks:',
  ];
  lines.push(
    `      - { key: 2000, path: ${source} }`,
    `repository: { path: ${repository} }`,
    `nbd: { ports: ${port}-${port + 9} }`,
  );
  if (retention) lines.push(`retention: ${JSON.stringify(retention)}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}
const plan = writePlan('build');
const run = (args) => timedRun([process.execPath, cli, ...args, '--db', db], { stderr: 'inherit' });
// Allocated bytes of the repository's files (what the disk really holds).
const space = () =>
  Number(execFileSync('du', ['-s', '--block-size=1', repository], { encoding: 'utf8' }).split('\t')[0]);
const gib = (bytes) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
const s = (seconds) => `${seconds.toFixed(2)} s`;

console.log(`source: ${gib(size)} qcow2, ${gib(dataBytes)} of data; incrementals dirty 1% of the data each`);
const full = await run([plan]);
console.log(`full backup: ${s(full.seconds)}`);
const writes = Math.max(1, Math.round(dataBytes / 100 / MiB));
for (let i = 1; i <= 3; i++) {
  const args = Array.from({ length: writes }, (_, index) => [
    '-c',
    `write -P 0x${(0x40 + i).toString(16)} ${((index * 7919 + i * 131) % (size / MiB - 1)) * MiB} 1M`,
  ]).flat();
  execFileSync('qemu-io', ['-f', 'qcow2', ...args, source], { stdio: 'ignore' });
  const inc = await run([plan]);
  console.log(`incremental ${i} (${writes} x 1 MiB): ${s(inc.seconds)}`);
}
const before = space();

// The injected clock: point 1 onto point 2's day, every other point a day of its own.
const sqlite = new SqliteDatabase(db);
const ids = sqlite
  .prepare('select id from backups order by rowid')
  .all()
  .map((row) => row.id);
const day = (n, hour) => new Date(Date.UTC(2026, 0, 1 + n, hour)).toISOString();
const update = sqlite.prepare('update backups set started_at = ? where id = ?');
ids.forEach((id, n) => update.run(n === 1 ? day(2, 1) : day(n, 2), id));
sqlite.close();

// The same command with nothing to change: node start-up, plan validation, SQLite, the choice.
const startup = await run(['prune', writePlan('daily', { keepDaily: 100 }), '--dry-run']);
const merge = await run(['prune', writePlan('daily', { keepDaily: 100 })]);
const afterMerge = space();
const fold = await run(['prune', writePlan('last', { keepLast: 2 })]);
const after = space();
const pct = (seconds) => `${((seconds / full.seconds) * 100).toFixed(1)}% of the full backup`;
// The merge's own time, as the command's summary says it ("… in 0.52 s").
const work = (result) => {
  const seconds = Number(/in ([\d.]+) s\n?$/.exec(result.stdout.trim())?.[1]);
  return `the merge itself ${s(seconds)} = ${pct(seconds)}; ${result.stdout.trim().split('\n').at(-1)}`;
};
console.log(
  `prune --dry-run (start-up, plan, SQLite, choice; no merge): ${s(startup.seconds)} (${pct(startup.seconds)})`,
);
console.log(
  `prune: incremental 1 merged into incremental 2: ${s(merge.seconds)} (${pct(merge.seconds)}; ${work(merge)})`,
);
console.log(
  `prune: the full folded into incremental 2 (now the full): ${s(fold.seconds)} (${pct(fold.seconds)}; ${work(fold)})`,
);
console.log(`space: ${gib(before)} before, ${gib(afterMerge)} after the merge, ${gib(after)} after the fold`);
