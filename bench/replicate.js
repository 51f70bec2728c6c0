// Replication (issue 29): a 2 GiB qcow2 disk on this host replicated to a node over SSH (a
// throw-away sshd on 127.0.0.1), against an incremental backup of the same change into a
// repository on this host. Each round writes 1% of the disk in scattered 64 KiB blocks, then
// runs the sync and the backup (order alternating): bytes the sync sent against the bytes the
// source's bitmap marks changed, and the wall time of the sync against the backup's.
// BENCH_RUNS=N rounds (default 5), BENCH_DISK_MIB=N the disk (default 2048, half of it data).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { cli, requireBuild } from './support/built.js';
import { scratchDir } from './support/scratch.js';
import { startSshd } from './support/sshd.js';
import { median, spread } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

requireBuild('replicate');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const DISK_MIB = Number(process.env.BENCH_DISK_MIB ?? 2048);
const MiB = 1024 * 1024;
const BLOCK = 64 * 1024;
const dir = scratchDir('sendense-bench-replicate-');
const db = join(dir, 'state.db');
const image = join(dir, 'source.qcow2');
mkdirSync(join(dir, 'sshd'));
const sshd = await startSshd(join(dir, 'sshd'));
process.on('exit', () => sshd.stop());
const node = {
  host: '127.0.0.1',
  port: sshd.port,
  user: sshd.user,
  identityFile: sshd.identityFile,
  knownHosts: sshd.knownHosts,
};

execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, `${DISK_MIB}M`]);
execFileSync('qemu-io', ['-c', `write -P 0x5a 0 ${DISK_MIB / 2}M`, image], { stdio: 'ignore' });
mkdirSync(join(dir, 'replica'));
const source = { type: 'qemu', disks: [{ key: 2000, path: image, format: 'qcow2' }] };
const replicatePlan = join(dir, 'replicate.yaml');
writeFileSync(
  replicatePlan,
  stringify({
    version: 1,
    kind: 'replicate',
    name: 'bench-replica',
    vm: { name: 'bench-repl', source },
    replica: { node, path: join(dir, 'replica', 'disk-{key}.qcow2'), points: 3 },
    nbd: { ports: '47400-47420' },
  }),
);
const backupPlan = join(dir, 'backup.yaml');
writeFileSync(
  backupPlan,
  stringify({
    version: 1,
    kind: 'incremental',
    name: 'bench-backup',
    vm: { name: 'bench-repl', source },
    repository: { path: join(dir, 'repository') },
    nbd: { ports: '47400-47420' },
  }),
);

const run = async (plan) => {
  const result = await timedRun([process.execPath, cli, plan, '--db', db, '--json']);
  const events = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  const end = events.find((event) => event.type === 'run-end');
  // Where the time went: each step's seconds, from its step-start to its step-done.
  const started = new Map();
  const steps = {};
  for (const event of events) {
    if (event.type === 'step-start') started.set(event.step, Date.parse(event.time));
    if (event.type === 'step-done' && started.has(event.step))
      steps[event.step] = (Date.parse(event.time) - started.get(event.step)) / 1000;
  }
  return { seconds: result.seconds, bytes: end.bytes, taken: end.taken, steps };
};
const stepText = (steps) =>
  Object.entries(steps)
    .filter(([, seconds]) => seconds >= 0.05)
    .map(([step, seconds]) => `${step} ${seconds.toFixed(2)}`)
    .join(', ');

// 1% of the disk in distinct 64 KiB blocks at random offsets: exactly what the bitmap marks.
const changeOnePercent = (round) => {
  const blocks = new Set();
  const count = Math.round((DISK_MIB * MiB) / 100 / BLOCK);
  while (blocks.size < count) blocks.add(Math.floor(Math.random() * ((DISK_MIB * MiB) / BLOCK)));
  const commands = [...blocks].flatMap((block) => ['-c', `write -P ${(round % 200) + 1} ${block * BLOCK} ${BLOCK}`]);
  for (let at = 0; at < commands.length; at += 400)
    execFileSync('qemu-io', [...commands.slice(at, at + 400), image], { stdio: 'ignore' });
  return blocks.size * BLOCK;
};

// The first sync and backup are fulls.
const fullSync = await run(replicatePlan);
const fullBackup = await run(backupPlan);
console.log(
  `full: sync ${fullSync.seconds.toFixed(2)} s (${(fullSync.bytes / MiB).toFixed(0)} MiB), backup ${fullBackup.seconds.toFixed(2)} s`,
);

const ratios = [];
const times = [];
for (let round = 0; round < RUNS; round++) {
  const changed = changeOnePercent(round);
  const order = round % 2 === 0 ? ['sync', 'backup'] : ['backup', 'sync'];
  const results = {};
  for (const which of order) results[which] = await run(which === 'sync' ? replicatePlan : backupPlan);
  if (results.sync.taken !== 'incremental' || results.backup.taken !== 'incremental')
    throw new Error(`round ${round}: not incremental (${results.sync.taken}, ${results.backup.taken})`);
  ratios.push(results.sync.bytes / changed);
  times.push(results.sync.seconds / results.backup.seconds);
  console.log(
    `round ${round + 1}: changed ${(changed / MiB).toFixed(1)} MiB, sync sent ${(results.sync.bytes / MiB).toFixed(1)} MiB in ${results.sync.seconds.toFixed(2)} s, backup ${results.backup.seconds.toFixed(2)} s`,
  );
  console.log(`  sync steps (s): ${stepText(results.sync.steps)}`);
  console.log(`  backup steps (s): ${stepText(results.backup.steps)}`);
}
console.log(`bytes sent / bytes changed: median ${median(ratios).toFixed(3)}x (${spread(ratios)}), aim <= 1.05x`);
console.log(
  `1%-changed sync / incremental backup of the same change: median ${median(times).toFixed(2)}x (${spread(times)})`,
);
// The sshd would keep the bench alive: stopped here (and on a failure, when the bench exits).
await sshd.stop();
