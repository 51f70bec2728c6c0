// A local full backup (the hub is the node) against `qemu-img convert` of the same image to a
// qcow2, the copy without NBD: a 4 GiB qcow2 with 2 GiB of data. Both end with their file on disk
// (ours syncs it before the backup is complete; convert is followed by an fsync of its output), so
// both are timed to the same point. Two series: "page cache" (the source read once before each
// run) and "on disk" (the page cache dropped before each run: root only, skipped otherwise).
// Alternating runs after one warm-up each, medians, the load average. Needs `npm run build`.
// Beside each full run's spawn-to-exit time, its copy: the transfer step and record-change-ids
// (which syncs the file), from its --json events, without the run's fixed costs (node's start, the
// plan, the database, the source's bitmap and its end mark).
// BENCH_RUNS=N (default 3), BENCH_GIB=N (the source's data, default 2, on a disk twice that size),
// BENCH_TMPDIR (default /var/tmp); BENCH_BEFORE=DIR: the CLI of
// another built checkout (an older commit) runs as a third tool, "before". BENCH_ONLY=incremental:
// the incremental series alone (below); BENCH_CHANGES: its MiB written per round (41).
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { alternatingRounds } from './support/alternating-rounds.js';
import { cli, requireBuild } from './support/built.js';
import { blockJobCopy } from './support/block-job.js';
import { benchPorts, writeLocalPlan } from './support/local-plan.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { meanMedian as median, spread } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

const GiB = 1024 ** 3;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
requireBuild('local-full');
const dir = scratchDir('sendense-bench-local-full-');
const source = join(dir, 'source.qcow2');
const DATA_GIB = Number(process.env.BENCH_GIB ?? 2);
makeSourceImage(source, { regions: DATA_GIB * 128, size: 2 * DATA_GIB * GiB });
const qemuImg = (...args) => execFileSync('qemu-img', args, { encoding: 'utf8' });
const bitmaps = () =>
  (JSON.parse(qemuImg('info', '--output=json', source))['format-specific']?.data?.bitmaps ?? []).map((b) => b.name);
const canDrop = process.getuid?.() === 0;

const repository = join(dir, 'repo');
const plan = writeLocalPlan(join(dir, 'local-full.yaml'), {
  name: 'local-full',
  kind: 'backup',
  source,
  repository,
  ports: benchPorts(),
});

// Before each run: nothing of the last one left, its dirty pages written, then the cache as the series wants it.
function prepare(cache) {
  rmSync(repository, { recursive: true, force: true });
  rmSync(join(dir, 'state.db'), { force: true });
  rmSync(join(dir, 'convert.qcow2'), { force: true });
  for (const name of bitmaps()) qemuImg('bitmap', '--remove', source, name);
  execFileSync('sync');
  if (cache === 'on disk') writeFileSync('/proc/sys/vm/drop_caches', '3');
  else execFileSync('dd', [`if=${source}`, 'of=/dev/null', 'bs=8M', 'status=none']);
}

const before =
  process.env.BENCH_BEFORE === undefined ? undefined : join(process.env.BENCH_BEFORE, 'bin', 'sendense-run.js');

// A run of `planFile` with --json: its wall seconds and events; a run that did not succeed fails the bench.
async function succeededRun(program, planFile, db = join(dir, 'state.db')) {
  const result = await timedRun([process.execPath, program, planFile, '--db', db, '--json']);
  const events = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  const end = events.find((event) => event.type === 'run-end');
  if (end?.status !== 'succeeded') throw new Error(`run ${end?.status}: ${end?.error}`);
  return { seconds: result.seconds, events, end };
}

// Spawn to exit, and the copy alone: from the transfer step's start to record-change-ids' end.
async function ours(program = cli) {
  const { seconds, events } = await succeededRun(program, plan);
  const at = (type, step) => Date.parse(events.find((event) => event.type === type && event.step === step).time);
  return { seconds, copy: (at('step-done', 'record-change-ids') - at('step-start', 'transfer')) / 1000 };
}

async function convert() {
  const output = join(dir, 'convert.qcow2');
  const copy = await timedRun(['qemu-img', 'convert', '-O', 'qcow2', source, output]);
  const sync = await timedRun(['sync', output]);
  return copy.seconds + sync.seconds;
}

const series = process.env.BENCH_ONLY === 'incremental' ? [] : canDrop ? ['page cache', 'on disk'] : ['page cache'];
if (!canDrop) console.log('on disk: skipped (dropping the page cache needs root)');
for (const cache of series) {
  const tools = before === undefined ? ['ours', 'convert'] : ['ours', 'convert', 'before'];
  const times = Object.fromEntries(tools.map((tool) => [tool, []]));
  const copies = [];
  const load = [loadavg()[0]];
  await alternatingRounds(RUNS, tools, async (tool, round) => {
    prepare(cache);
    const run = tool === 'convert' ? { seconds: await convert() } : await ours(tool === 'before' ? before : cli);
    if (round < 0) return;
    times[tool].push(run.seconds);
    if (tool === 'ours') copies.push(run.copy);
    console.log(
      `  ${cache}: ${tool.padEnd(7)} ${run.seconds.toFixed(2)} s${run.copy === undefined ? '' : ` (copy ${run.copy.toFixed(2)} s)`}`,
    );
  });
  load.push(loadavg()[0]);
  const [a, b, c] = [median(times.ours), median(times.convert), median(copies)];
  console.log(
    `${cache}: full backup ${a.toFixed(2)} s (${spread(times.ours)}) vs qemu-img convert + fsync ${b.toFixed(2)} s (${spread(times.convert)}): ` +
      `${(a / b).toFixed(2)}x (aim <= 1.2x); its copy ${c.toFixed(2)} s (${spread(copies)}): ${(c / b).toFixed(2)}x; ` +
      `load ${load.map((value) => value.toFixed(1)).join(' -> ')}`,
  );
  if (before !== undefined)
    console.log(
      `${cache}: before ${median(times.before).toFixed(2)} s (${spread(times.before)}): ${(median(times.before) / b).toFixed(2)}x`,
    );
}

// A local incremental's copy against the same convert restricted to the dirty extents: after a
// full, each round writes CHANGES x 1 MiB (a byte pattern each) at scattered 1 MiB offsets into the source
// and the same into an empty qcow2 of the same size (only the dirty extents allocated). Ours: an
// `incremental` run, its copy from the `--json` events (the transfer step, and record-change-ids,
// which puts the file on disk) and spawn to exit; reference: `qemu-img convert -O qcow2` of that
// qcow2 (the dirty extents alone), then `sync` of its output. Page cache only. With BENCH_BEFORE,
// the older CLI takes its incrementals of its own copy of the source (the same writes), into its
// own repository and database. "block job": QEMU's own copy of a bitmap's extents (support/block-job.js)
// from another copy of the source, whose bitmap records the same writes, into a fresh overlay, then
// `sync`: no digests, no record, the floor of a copy through QEMU.
const CHANGES = Number(process.env.BENCH_CHANGES ?? 41);
{
  prepare('page cache');
  const sides = [{ tool: 'ours', program: cli, source, db: join(dir, 'state.db'), repository }];
  if (before !== undefined) {
    const copy = join(dir, 'source-before.qcow2');
    execFileSync('cp', ['--sparse=always', source, copy]);
    sides.push({
      tool: 'before',
      program: before,
      source: copy,
      db: join(dir, 'state-before.db'),
      repository: join(dir, 'repo-before'),
    });
  }
  for (const side of sides) {
    rmSync(side.repository, { recursive: true, force: true });
    rmSync(side.db, { force: true });
    side.plan = writeLocalPlan(join(dir, `local-inc-${side.tool}.yaml`), {
      name: `local-inc-${side.tool}`,
      kind: 'incremental',
      source: side.source,
      repository: side.repository,
      ports: benchPorts(),
    });
  }
  const runPlan = async (side) => {
    const { seconds, events, end } = await succeededRun(side.program, side.plan, side.db);
    const steps = events.filter((event) => event.type === 'step-done' || event.type === 'run-start');
    const index = steps.findIndex((event) => event.step === 'transfer');
    // The copy (transfer) and putting it on disk (record-change-ids: stop qemu-nbd, fsync, manifest).
    const recorded = steps.findIndex((event) => event.step === 'record-change-ids');
    return {
      wall: seconds,
      copy: (Date.parse(steps[recorded].time) - Date.parse(steps[index - 1].time)) / 1000,
      taken: end.taken,
    };
  };
  for (const side of sides) await runPlan(side);
  const delta = join(dir, 'delta.qcow2');
  const size = 2 * DATA_GIB * GiB;
  const job = {
    source: join(dir, 'source-job.qcow2'),
    base: join(dir, 'job-base.qcow2'),
    target: join(dir, 'job-top.qcow2'),
    bitmap: 'bench-job',
  };
  execFileSync('cp', ['--sparse=always', source, job.source]);
  qemuImg('bitmap', '--add', job.source, job.bitmap);
  qemuImg('create', '-q', '-f', 'qcow2', job.base, String(size));
  const times = Object.fromEntries(
    [...sides.map((side) => side.tool), 'convert', 'block job'].map((tool) => [tool, { copy: [], wall: [] }]),
  );
  const load = [loadavg()[0]];
  // The same CHANGES MiB into each source and into an empty qcow2.
  const writeChanges = () => {
    rmSync(delta, { force: true });
    qemuImg('create', '-q', '-f', 'qcow2', delta, String(size));
    const offsets = Array.from({ length: CHANGES }, () => Math.floor(Math.random() * (size / 2 ** 20)) * 2 ** 20);
    const commands = offsets.flatMap((offset, index) => ['-c', `write -P ${(index % 254) + 1} ${offset} 1M`]);
    for (const image of [...sides.map((side) => side.source), delta, job.source])
      execFileSync('qemu-io', ['-f', 'qcow2', ...commands, image], { stdio: 'ignore' });
  };
  await alternatingRounds(
    RUNS,
    Object.keys(times),
    async (tool, round) => {
      const side = sides.find((candidate) => candidate.tool === tool);
      if (side !== undefined) {
        const { wall, copy, taken } = await runPlan(side);
        if (taken !== 'incremental') throw new Error(`an incremental was expected, the run took a ${taken}`);
        if (round >= 0) {
          times[tool].wall.push(wall);
          times[tool].copy.push(copy);
        }
        console.log(`  incremental: ${tool} copy + sync ${copy.toFixed(2)} s, spawn to exit ${wall.toFixed(2)} s`);
        return;
      }
      if (tool === 'block job') {
        rmSync(job.target, { force: true });
        qemuImg('create', '-q', '-f', 'qcow2', '-b', job.base, '-F', 'qcow2', job.target);
        const copied = await blockJobCopy({ ...job, dir });
        const seconds = copied.seconds + (await timedRun(['sync', job.target])).seconds;
        qemuImg('bitmap', '--clear', job.source, job.bitmap);
        if (round >= 0) times[tool].copy.push(seconds);
        console.log(
          `  incremental: QEMU's block job of the dirty extents (${(copied.bytes / 2 ** 20).toFixed(0)} MiB) + sync ${seconds.toFixed(2)} s`,
        );
        return;
      }
      rmSync(join(dir, 'convert.qcow2'), { force: true });
      const converted = await timedRun(['qemu-img', 'convert', '-O', 'qcow2', delta, join(dir, 'convert.qcow2')]);
      const seconds = converted.seconds + (await timedRun(['sync', join(dir, 'convert.qcow2')])).seconds;
      if (round >= 0) times.convert.copy.push(seconds);
      console.log(`  incremental: convert of the dirty extents + sync ${seconds.toFixed(2)} s`);
    },
    { beforeRound: writeChanges },
  );
  load.push(loadavg()[0]);
  const reference = median(times.convert.copy);
  for (const side of sides) {
    const [copy, wall] = [median(times[side.tool].copy), median(times[side.tool].wall)];
    console.log(
      `incremental (${CHANGES} x 1 MiB), ${side.tool}: copy + sync ${copy.toFixed(2)} s (${spread(times[side.tool].copy)}), run ${wall.toFixed(2)} s (${spread(times[side.tool].wall)}) vs qemu-img convert of the dirty extents + sync ${reference.toFixed(2)} s (${spread(times.convert.copy)}): ` +
        `copy ${(copy / reference).toFixed(2)}x (aim <= 1.5x), run ${(wall / reference).toFixed(2)}x; load ${load.map((value) => value.toFixed(1)).join(' -> ')}`,
    );
  }
  const floor = median(times['block job'].copy);
  console.log(
    `incremental (${CHANGES} x 1 MiB), QEMU's block job + sync (no digests, no record): ${floor.toFixed(2)} s (${spread(times['block job'].copy)}): ${(floor / reference).toFixed(2)}x convert`,
  );
}
