// The node transfer against nbdcopy: a 4 GiB qcow2 with 2 GiB of data into a fresh qcow2
// served by qemu-nbd (as the hub serves it), warm-up, alternating runs, median times and
// spread; CPU seconds of each tool and of the target (steadier than wall time on a loaded
// machine); then a 1%-dirty incremental against start-up alone, alternating; peak RSS from the
// runner's own debug line. BENCH_RUNS=N (default 5) runs each.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alternatingRounds } from './support/alternating-rounds.js';
import { root } from './support/built.js';
import { bundle } from './support/bundle.js';
import { freshQcow2, startQemuNbdTarget } from './support/qemu-nbd-target.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { median, spread } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const dir = scratchDir('sendense-bench-');

const runner = await bundle(join(root, 'runners/sendense-transfer.ts'), join(dir, 'sendense-transfer.mjs'));
// The target qemu-nbd gets the hub's environment (src/qemu/qemu-nbd-env.ts: malloc tunables).
const { qemuNbdEnv } = await import(
  await bundle(join(root, 'src/qemu/qemu-nbd-env.ts'), join(dir, 'qemu-nbd-env.mjs'))
);
const uptime = () =>
  execFileSync('uptime')
    .toString()
    .trim()
    .replace(/^.*load/, 'load');
// CPU seconds (user + sys) of a process and its reaped children, via GNU time when installed.
const gnuTime = existsSync('/usr/bin/time') ? ['/usr/bin/time', '-f', 'CPU %U %S'] : [];
function cpuSecondsOf(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

// Source: 256 regions of 8 MiB random data, each followed by an 8 MiB hole.
const source = join(dir, 'source.qcow2');
makeSourceImage(source, { regions: 256, size: 4 * GiB });
execFileSync('qemu-img', ['bitmap', '--add', source, 'b1']);

async function timed(argv) {
  const result = await timedRun([...gnuTime, ...argv]);
  const cpu = /CPU (\S+) (\S+)/.exec(result.stderr);
  return { ...result, cpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN };
}

async function copyOnce(tool, targetFile, extra = []) {
  const target = await startQemuNbdTarget(targetFile, { env: qemuNbdEnv() });
  try {
    const result =
      tool === 'nbdcopy'
        ? // Fair: nbdcopy also starts its own read-only qemu-nbd on the source (socket activation).
          await timed(['nbdcopy', '--flush', '--', '[', 'qemu-nbd', '-r', '-f', 'qcow2', source, ']', target.url])
        : await timed([
            process.execPath,
            runner,
            '--nbd-targets',
            `2000:${target.url}`,
            '--source',
            `2000=qemu:${source}`,
            ...extra,
          ]);
    return { ...result, targetCpuSeconds: cpuSecondsOf(target.pid) };
  } finally {
    await target.stop();
  }
}

const freshTarget = (name) => freshQcow2(join(dir, name), { size: 4 * GiB });
const peakRss = (stdout) =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .find((line) => line.message === 'peak memory')?.maxRssBytes ?? 0;

const runs = { ours: [], nbdcopy: [] };
const rss = [];
console.log(`full: 4 GiB qcow2, 2 GiB data, ${RUNS} runs each after one warm-up each, alternating; ${uptime()}`);
await alternatingRounds(RUNS, ['ours', 'nbdcopy'], async (tool, run) => {
  const result = await copyOnce(tool, freshTarget(`full-${tool}.qcow2`));
  if (run < 0) return;
  runs[tool].push(result);
  if (tool === 'ours') rss.push(peakRss(result.stdout));
  const cpu = `cpu ${result.cpuSeconds.toFixed(2)} s, target cpu ${result.targetCpuSeconds.toFixed(2)} s`;
  console.log(
    `  ${tool.padEnd(7)} ${result.seconds.toFixed(2)} s  ${((2 * GiB) / MiB / result.seconds).toFixed(0)} MiB/s  (${cpu})`,
  );
});
const figures = (tool, key) => runs[tool].map((result) => result[key]);
const ours = median(figures('ours', 'seconds'));
const theirs = median(figures('nbdcopy', 'seconds'));
const ratios = runs.ours.map((result, index) => result.seconds / runs.nbdcopy[index].seconds);
console.log(`after the runs: ${uptime()}`);
for (const tool of ['ours', 'nbdcopy']) {
  const wall = figures(tool, 'seconds');
  console.log(
    `${tool.padEnd(7)} median ${median(wall).toFixed(2)} s (range ${spread(wall)}), cpu median ${median(figures(tool, 'cpuSeconds')).toFixed(2)} s, target cpu median ${median(figures(tool, 'targetCpuSeconds')).toFixed(2)} s`,
  );
}
console.log(
  `full median: ours ${ours.toFixed(2)} s, nbdcopy ${theirs.toFixed(2)} s, ratio ${(ours / theirs).toFixed(2)}x (aim <= 1.0x; per-pair ratios ${spread(ratios)})`,
);
console.log(`peak RSS of the runner: ${(Math.max(...rss) / MiB).toFixed(0)} MiB (aim < 200 MiB)`);

execFileSync('qemu-img', ['compare', '-q', source, join(dir, 'full-ours.qcow2')]);
console.log('full copy verified with qemu-img compare');

// 1% of the disk dirty (41 x 1 MiB, scattered), as an overlay on the last full copy.
const writes = Array.from({ length: 41 }, (_, index) => [
  '-c',
  `write -P 0x${((index % 200) + 16).toString(16)} ${index * 97 * MiB} 1M`,
]).flat();
execFileSync('qemu-io', ['-f', 'qcow2', ...writes, source], { stdio: 'ignore' });
// b2 has nothing dirty: an incremental with it measures start-up alone (node, 2 qemu-nbd, handshakes).
execFileSync('qemu-img', ['bitmap', '--add', source, 'b2']);
const base = join(dir, 'full-ours.qcow2');
async function incremental(bitmap) {
  const overlay = freshQcow2(join(dir, `inc-${bitmap}.qcow2`), { backing: base });
  return (await copyOnce('ours', overlay, ['--bitmap', `2000=${bitmap}`])).seconds;
}
const incRuns = { b1: [], b2: [] };
await alternatingRounds(RUNS, ['b1', 'b2'], async (bitmap, run) => {
  const seconds = await incremental(bitmap);
  if (run >= 0) incRuns[bitmap].push(seconds);
});
const startup = median(incRuns.b2);
const inc = median(incRuns.b1);
execFileSync('qemu-img', ['compare', '-q', source, join(dir, 'inc-b1.qcow2')]);
console.log(
  `start-up (incremental with nothing dirty) median ${startup.toFixed(2)} s (range ${spread(incRuns.b2)}); 1% incremental range ${spread(incRuns.b1)}; ${uptime()}`,
);
console.log(
  `incremental (1% dirty) median ${inc.toFixed(2)} s = ${((inc / ours) * 100).toFixed(1)}% of the full; minus start-up ${(((inc - startup) / ours) * 100).toFixed(1)}% (aim < 3% + start-up); verified with qemu-img compare`,
);
