// What the engine adds to a backup: a whole `sendense-run` run (node start-up, plan validation,
// SQLite, qemu-img, qemu-nbd start/stop, bookkeeping) against the node transfer alone on the same
// data into a qemu-nbd target started beforehand. A 4 GiB qcow2 with 2 GiB of data: full backups,
// then 1%-dirty incrementals. Alternating runs after one warm-up each, medians. Needs `npm run
// build`. BENCH_RUNS=N (default 3), BENCH_TMPDIR (default /var/tmp).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { alternatingRounds } from './support/alternating-rounds.js';
import { builtRunner as runner, cli, requireBuild } from './support/built.js';
import { benchPorts, writeLocalPlan } from './support/local-plan.js';
import { freshQcow2, startQemuNbdTarget } from './support/qemu-nbd-target.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { meanMedian as median } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
requireBuild('engine');
const dir = scratchDir('sendense-bench-engine-');

// Source: 256 regions of 8 MiB random data, each followed by an 8 MiB hole (as bench/transfer.js).
const source = join(dir, 'source.qcow2');
makeSourceImage(source, { regions: 256, size: 4 * GiB });
const qemuImg = (...args) => execFileSync('qemu-img', args, { encoding: 'utf8' });
const bitmaps = () =>
  (JSON.parse(qemuImg('info', '--output=json', source))['format-specific']?.data?.bitmaps ?? []).map((b) => b.name);

// Runs argv to the end; wall seconds, stdout, and when it started and ended (epoch ms).
const timed = (argv) => timedRun(argv, { stderr: 'inherit' });

// The transfer alone: the target qemu-nbd is started (untimed) the way the hub serves it.
async function transferAlone(targetFile, extra = []) {
  const target = await startQemuNbdTarget(targetFile);
  try {
    return await timed([
      process.execPath,
      runner,
      '--nbd-targets',
      `2000:${target.url}`,
      '--source',
      `2000=qemu:${source}`,
      ...extra,
    ]);
  } finally {
    await target.stop();
  }
}

const ports = benchPorts();
const writePlan = (name, repository) => writeLocalPlan(join(dir, `${name}.yaml`), { name, source, repository, ports });

// A whole engine run, with where its time went (from the --json events' timestamps).
async function engineRun(plan, db) {
  const result = await timed([process.execPath, cli, plan, '--db', db, '--json']);
  const events = result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  const at = (type, step) =>
    Date.parse(events.find((e) => e.type === type && (step === undefined || e.step === step)).time);
  const runStart = at('run-start');
  const transferStart = at('step-start', 'transfer');
  const transferDone = at('step-done', 'transfer');
  const end = events.find((e) => e.type === 'run-end');
  if (end.status !== 'succeeded') throw new Error(`engine run ${end.status}: ${end.error}`);
  return {
    seconds: result.seconds,
    transfer: (transferDone - transferStart) / 1000,
    startup: (runStart - result.started) / 1000, // node, modules, plan load + validation, store open
    before: (transferStart - runStart) / 1000, // resolve-chain .. snapshot-source (qemu-img, qemu-nbd starts)
    after: (result.ended - transferDone) / 1000, // record, cleanup (qemu-nbd stops), exit
    backupId: end.backupId,
    db,
  };
}

const fmt = (seconds) => `${seconds.toFixed(2)} s`;
function printRun(what, result) {
  const detail =
    what === 'engine'
      ? `  (start-up ${fmt(result.startup)}, before ${fmt(result.before)}, transfer ${fmt(result.transfer)}, after ${fmt(result.after)})`
      : '';
  console.log(`  ${what.padEnd(6)} ${fmt(result.seconds)}${detail}`);
}
function summary(label, engine, alone) {
  const pick = (key) => median(engine.map((run) => run[key]));
  const wall = median(engine.map((run) => run.seconds));
  const base = median(alone.map((run) => run.seconds));
  // Wall-clock differences drown in noise on a busy host; the engine's own time is measured directly.
  const own = median(engine.map((run) => run.startup + run.before + run.after));
  console.log(
    `${label}: engine ${fmt(wall)} vs transfer alone ${fmt(base)}: the engine adds ${fmt(wall - base)}, its own time ${fmt(own)} ` +
      `(start-up ${fmt(pick('startup'))}, steps before the transfer ${fmt(pick('before'))}, ` +
      `after it ${fmt(pick('after'))}; transfer step inside the engine ${fmt(pick('transfer'))})`,
  );
}

// Full backups: each engine run into a fresh repository and database; its bitmap removed afterwards.
console.log(`full: 4 GiB qcow2, 2 GiB data, ${RUNS} runs each after one warm-up each, alternating`);
const full = { engine: [], alone: [] };
await alternatingRounds(RUNS, ['engine', 'alone'], async (what, run) => {
  let result;
  if (what === 'engine') {
    const repository = join(dir, `repo-full-${run + 1}`);
    result = await engineRun(writePlan(`bench-full-${run + 1}`, repository), join(dir, `full-${run + 1}.db`));
    for (const name of bitmaps()) qemuImg('bitmap', '--remove', source, name);
    rmSync(repository, { recursive: true, force: true });
  } else {
    result = await transferAlone(freshQcow2(join(dir, 'alone-full.qcow2'), { size: 4 * GiB }));
  }
  if (run < 0) return;
  full[what].push(result);
  printRun(what, result);
});
summary('full median', full.engine, full.alone);

// Incrementals: one engine chain; before each round a bench bitmap is added next to the engine's,
// 1% of the disk is dirtied (41 x 1 MiB, scattered), and both copy exactly that.
const chainRepository = join(dir, 'repo-chain');
const chainPlan = writePlan('bench-chain', chainRepository);
const chainDb = join(dir, 'chain.db');
const base = await engineRun(chainPlan, chainDb);
const baseFile = join(chainRepository, 'benchvm', 'disk-2000', `${base.backupId}.qcow2`);
console.log(`incremental: 1% of the disk dirty (41 x 1 MiB), ${RUNS} runs each after one warm-up each, alternating`);
const inc = { engine: [], alone: [] };
let lastBackup = base.backupId;
// Before each round: a fresh bench bitmap next to the engine's, then 1% of the disk dirty.
function dirtyOnePercent(run) {
  if (bitmaps().includes('bench-inc')) qemuImg('bitmap', '--remove', source, 'bench-inc');
  qemuImg('bitmap', '--add', source, 'bench-inc');
  const fill = (((run + 2) * 37) % 200) + 16;
  const writes = Array.from({ length: 41 }, (_, index) => [
    '-c',
    `write -P 0x${fill.toString(16)} ${index * 97 * MiB + (run + 1) * MiB} 1M`,
  ]).flat();
  execFileSync('qemu-io', ['-f', 'qcow2', ...writes, source], { stdio: 'ignore' });
}
const measureIncremental = async (what, run) => {
  let result;
  if (what === 'engine') {
    result = await engineRun(chainPlan, chainDb);
    lastBackup = result.backupId;
  } else {
    result = await transferAlone(freshQcow2(join(dir, 'alone-inc.qcow2'), { backing: baseFile }), [
      '--bitmap',
      '2000=bench-inc',
    ]);
  }
  if (run < 0) return;
  inc[what].push(result);
  printRun(what, result);
};
await alternatingRounds(RUNS, ['engine', 'alone'], measureIncremental, { beforeRound: dirtyOnePercent });
summary('incremental median', inc.engine, inc.alone);
qemuImg('compare', '-q', source, join(chainRepository, 'benchvm', 'disk-2000', `${lastBackup}.qcow2`));
console.log('the last engine incremental, read through its chain, equals the source (qemu-img compare)');
