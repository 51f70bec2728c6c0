// The memory of a qemu-nbd reading a large qcow2 whose data is spread over it: QEMU's default L2
// cache (it grows to cover the image, up to 32 MiB per file) against the bounded one our qemu-nbd
// processes open images with (src/qemu/image-opts.ts: 1 MiB on the image and each qcow2 below it).
// A 1 TiB qcow2 holding 64 KiB every 512 MiB (every L2 table used), and the same under a 2-level
// chain of overlays; each served read-only on a Unix socket and read whole by nbdcopy. Peak RSS
// (VmHWM) of qemu-nbd and the copy's wall time, alternating after one warm-up each. Needs `npm
// run build`. BENCH_RUNS=N (default 3), BENCH_TMPDIR (default /var/tmp).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alternatingRounds } from './support/alternating-rounds.js';
import { requireBuild, root } from './support/built.js';
import { scratchDir, stopChild, trackChild } from './support/scratch.js';
import { meanMedian as median } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

requireBuild('qcow2-cache');
const { qemuNbdImageArgs } = await import(join(root, 'dist', 'src', 'qemu', 'image-opts.js'));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const dir = scratchDir('sendense-bench-qcow2-cache-');
const base = join(dir, 'spread.qcow2');
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '1T']);
const writes = Array.from({ length: 2048 }, (_, index) => `write -P ${(index % 250) + 1} ${index * 512}M 64k`).join(
  '\n',
);
writeFileSync(join(dir, 'writes'), `${writes}\n`);
execFileSync('sh', ['-c', `qemu-io -f qcow2 '${base}' < '${join(dir, 'writes')}' > /dev/null`]);
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'spread.qcow2', '-F', 'qcow2', join(dir, 'mid.qcow2')], {
  cwd: dir,
});
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', join(dir, 'top.qcow2')], {
  cwd: dir,
});

const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`1 TiB qcow2, 64 KiB every 512 MiB (2048 L2 tables); load average before: ${loadavg()}`);

// Serves `image` with `args`, reads it whole with nbdcopy; qemu-nbd's peak RSS and the read's time.
async function readThrough(args) {
  const socket = join(dir, 'nbd.sock');
  rmSync(socket, { force: true });
  const server = trackChild(
    spawn('qemu-nbd', ['--read-only', '--persistent', '--shared=4', `--socket=${socket}`, '--export-name=x', ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  for (let waited = 0; ; waited += 20) {
    try {
      readFileSync(`/proc/${server.pid}/status`);
      execFileSync('nbdinfo', ['--size', `nbd+unix:///x?socket=${socket}`], { stdio: 'ignore' });
      break;
    } catch {
      if (waited > 10_000) throw new Error('qemu-nbd did not start');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  const copy = await timedRun(['nbdcopy', `nbd+unix:///x?socket=${socket}`, 'null:']);
  const peak = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))[1]) * 1024;
  await stopChild(server);
  return { peak, seconds: copy.seconds };
}

const MB = 1e6;
for (const [label, image] of [
  ['the image alone', base],
  ['under 2 overlays', join(dir, 'top.qcow2')],
]) {
  const results = { default: [], bounded: [] };
  await alternatingRounds(RUNS, ['default', 'bounded'], async (what, run) => {
    const result = await readThrough(what === 'default' ? ['--format=qcow2', image] : qemuNbdImageArgs(image, 'qcow2'));
    if (run >= 0) results[what].push(result);
  });
  const peak = (what) => median(results[what].map((r) => r.peak)) / MB;
  const time = (what) => median(results[what].map((r) => r.seconds));
  console.log(
    `${label}: qemu-nbd peak RSS ${peak('bounded').toFixed(1)} MB bounded vs ${peak('default').toFixed(1)} MB default (${(peak('bounded') / peak('default')).toFixed(2)}x); ` +
      `read ${time('bounded').toFixed(2)} s vs ${time('default').toFixed(2)} s (${(time('bounded') / time('default')).toFixed(2)}x)`,
  );
}
console.log(`load average after: ${loadavg()}`);
