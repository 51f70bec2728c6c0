// A small incremental from a node over SSH, as a user runs it: `sendense-run PLAN --json` of a
// qemu source on a node reached through a throw-away sshd on 127.0.0.1 (bench/support/sshd.js).
// A 4 GiB qcow2 with 512 MiB of data; after a full, each round writes BENCH_CHANGES (41) x 1 MiB at
// scattered offsets. Reported: the transfer step (the node transfer pushing the dirty extents
// through the tunnel into the hub's qemu-nbd), record-change-ids, and spawn to exit; medians.
// BENCH_BEFORE=DIR: the CLI of another built checkout runs beside it, on its own copy of the source
// (the same writes), repository and database; rounds alternate. BENCH_RUNS=N (default 5),
// BENCH_TMPDIR (default /var/tmp). Needs `npm run build`.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { alternatingRounds } from './support/alternating-rounds.js';
import { cli, requireBuild } from './support/built.js';
import { benchPorts, writeLocalPlan } from './support/local-plan.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { startSshd } from './support/sshd.js';
import { meanMedian as median, spread } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 41);
requireBuild('ssh-incremental');
const dir = scratchDir('sendense-bench-ssh-inc-');
mkdirSync(join(dir, 'sshd'));
const sshd = await startSshd(join(dir, 'sshd'));

const tools = [['ours', cli]];
if (process.env.BENCH_BEFORE !== undefined)
  tools.push(['before', join(process.env.BENCH_BEFORE, 'bin', 'sendense-run.js')]);
// Every side's source starts as a copy of the first.
const first = join(dir, `source-${tools[0][0]}.qcow2`);
makeSourceImage(first, { regions: 64, size: 4 * 1024 ** 3 });
const sides = tools.map(([tool, program]) => {
  const source = join(dir, `source-${tool}.qcow2`);
  if (source !== first) execFileSync('cp', ['--sparse=always', first, source]);
  const plan = writeLocalPlan(join(dir, `${tool}.yaml`), {
    name: `ssh-inc-${tool}`,
    source,
    repository: join(dir, `repo-${tool}`),
    ports: benchPorts(),
    node: {
      host: '127.0.0.1',
      port: sshd.port,
      user: sshd.user,
      identityFile: sshd.identityFile,
      knownHosts: sshd.knownHosts,
    },
  });
  return { tool, program, source, plan, db: join(dir, `${tool}.db`) };
});

async function run(side) {
  const result = await timedRun([process.execPath, side.program, side.plan, '--db', side.db, '--json']);
  const events = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  const end = events.find((event) => event.type === 'run-end');
  if (end?.status !== 'succeeded') throw new Error(`${side.tool}: run ${end?.status}: ${end?.error}`);
  const step = (name) =>
    (Date.parse(events.find((event) => event.type === 'step-done' && event.step === name).time) -
      Date.parse(events.find((event) => event.type === 'step-start' && event.step === name).time)) /
    1000;
  return { wall: result.seconds, transfer: step('transfer'), record: step('record-change-ids'), taken: end.taken };
}

for (const side of sides) await run(side);
const times = Object.fromEntries(sides.map((side) => [side.tool, { transfer: [], record: [], wall: [] }]));
const load = [loadavg()[0]];
await alternatingRounds(
  RUNS,
  sides.map((side) => side.tool),
  async (tool, round) => {
    const measured = await run(sides.find((side) => side.tool === tool));
    if (measured.taken !== 'incremental')
      throw new Error(`${tool}: an incremental was expected, the run took a ${measured.taken}`);
    console.log(
      `  ${tool}: transfer ${measured.transfer.toFixed(3)} s, record ${measured.record.toFixed(3)} s, spawn to exit ${measured.wall.toFixed(2)} s`,
    );
    if (round < 0) return;
    for (const what of ['transfer', 'record', 'wall']) times[tool][what].push(measured[what]);
  },
  {
    beforeRound: () => {
      const commands = Array.from({ length: CHANGES }, (_, index) => [
        '-c',
        `write -P ${(index % 254) + 1} ${Math.floor(Math.random() * 4096)}M 1M`,
      ]).flat();
      for (const side of sides) execFileSync('qemu-io', ['-f', 'qcow2', ...commands, side.source], { stdio: 'ignore' });
    },
  },
);
load.push(loadavg()[0]);
for (const side of sides) {
  const t = times[side.tool];
  console.log(
    `${side.tool}: incremental (${CHANGES} x 1 MiB) over SSH: transfer ${median(t.transfer).toFixed(3)} s (${spread(t.transfer)}), record ${median(t.record).toFixed(3)} s, ` +
      `run ${median(t.wall).toFixed(2)} s (${spread(t.wall)}); load ${load.map((value) => value.toFixed(1)).join(' -> ')}`,
  );
}
await sshd.stop();
