// The node transfer against nbdcopy: a 4 GiB qcow2 with 2 GiB of data into a fresh qcow2
// served by qemu-nbd (as the hub serves it), warm-up, alternating runs, median times; then a
// 1%-dirty incremental; peak RSS from the runner's own debug line. BENCH_RUNS=N for more runs.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const dir = mkdtempSync(join(process.env.BENCH_TMPDIR ?? '/var/tmp', 'sendense-bench-'));
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

const runner = join(dir, 'sendense-transfer.mjs');
await build({ entryPoints: ['runners/sendense-transfer.ts'], outfile: runner, bundle: true, platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning' });

// Source: 256 regions of 8 MiB random data, each followed by an 8 MiB hole.
const source = join(dir, 'source.qcow2');
{
  const raw = join(dir, 'source.raw');
  const fd = openSync(raw, 'w');
  for (let region = 0; region < 256; region++) writeSync(fd, randomBytes(8 * MiB), 0, 8 * MiB, region * 16 * MiB);
  closeSync(fd);
  execFileSync('truncate', ['-s', String(4 * GiB), raw]);
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, source]);
  rmSync(raw);
  execFileSync('qemu-img', ['bitmap', '--add', source, 'b1']);
}

async function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// The hub's side: qemu-nbd on a new qcow2 (or an overlay), 127.0.0.1, --shared=10.
async function startTarget(file) {
  const port = await freePort();
  const child = spawn('qemu-nbd', ['-f', 'qcow2', '--shared=10', '-t', '-b', '127.0.0.1', '-p', String(port), '-x', 'target', file], { stdio: 'ignore' });
  children.add(child);
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (ok) break;
    await sleep(20);
  }
  return {
    url: `nbd://127.0.0.1:${port}/target`,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
        children.delete(child);
      }),
  };
}

function timed(argv) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    children.add(child);
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.once('close', (code) => {
      children.delete(child);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`${argv.join(' ')} exited ${code}: ${stdout.slice(-2000)}`));
      else resolve({ seconds, stdout });
    });
  });
}

async function copyOnce(tool, targetFile, extra = []) {
  const target = await startTarget(targetFile);
  try {
    if (tool === 'nbdcopy') {
      // Fair: nbdcopy also starts its own read-only qemu-nbd on the source (socket activation).
      return await timed(['nbdcopy', '--flush', '--', '[', 'qemu-nbd', '-r', '-f', 'qcow2', source, ']', target.url]);
    }
    return await timed([process.execPath, runner, '--nbd-targets', `2000:${target.url}`, '--source', `2000=qemu:${source}`, ...extra]);
  } finally {
    await target.stop();
  }
}

function freshTarget(name) {
  const file = join(dir, name);
  rmSync(file, { force: true });
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(4 * GiB)]);
  return file;
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const peakRss = (stdout) => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line)).find((line) => line.message === 'peak memory')?.maxRssBytes ?? 0;

const times = { ours: [], nbdcopy: [] };
const rss = [];
console.log(`full: 4 GiB qcow2, 2 GiB data, ${RUNS} runs each after one warm-up each, alternating`);
for (let run = -1; run < RUNS; run++) {
  for (const tool of run % 2 === 0 ? ['ours', 'nbdcopy'] : ['nbdcopy', 'ours']) {
    const result = await copyOnce(tool, freshTarget(`full-${tool}.qcow2`));
    if (run < 0) continue;
    times[tool].push(result.seconds);
    if (tool === 'ours') rss.push(peakRss(result.stdout));
    console.log(`  ${tool.padEnd(7)} ${result.seconds.toFixed(2)} s  ${((2 * GiB) / MiB / result.seconds).toFixed(0)} MiB/s`);
  }
}
const ours = median(times.ours);
const theirs = median(times.nbdcopy);
console.log(`full median: ours ${ours.toFixed(2)} s, nbdcopy ${theirs.toFixed(2)} s, ratio ${(ours / theirs).toFixed(2)}x (aim <= 1.0x)`);
console.log(`peak RSS of the runner: ${(Math.max(...rss) / MiB).toFixed(0)} MiB (aim < 200 MiB)`);

execFileSync('qemu-img', ['compare', '-q', source, join(dir, 'full-ours.qcow2')]);
console.log('full copy verified with qemu-img compare');

// 1% of the disk dirty (41 x 1 MiB, scattered), as an overlay on the last full copy.
const writes = Array.from({ length: 41 }, (_, index) => ['-c', `write -P 0x${(index % 200 + 16).toString(16)} ${index * 97 * MiB} 1M`]).flat();
execFileSync('qemu-io', ['-f', 'qcow2', ...writes, source], { stdio: 'ignore' });
// b2 has nothing dirty: an incremental with it measures start-up alone (node, 2 qemu-nbd, handshakes).
execFileSync('qemu-img', ['bitmap', '--add', source, 'b2']);
const base = join(dir, 'full-ours.qcow2');
async function incremental(bitmap) {
  const seconds = [];
  for (let run = 0; run < RUNS; run++) {
    const overlay = join(dir, 'inc.qcow2');
    rmSync(overlay, { force: true });
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay]);
    seconds.push((await copyOnce('ours', overlay, ['--bitmap', `2000=${bitmap}`])).seconds);
  }
  return median(seconds);
}
const startup = await incremental('b2');
const inc = await incremental('b1');
execFileSync('qemu-img', ['compare', '-q', source, join(dir, 'inc.qcow2')]);
console.log(`start-up (incremental with nothing dirty) median ${startup.toFixed(2)} s`);
console.log(`incremental (1% dirty) median ${inc.toFixed(2)} s = ${((inc / ours) * 100).toFixed(1)}% of the full; minus start-up ${(((inc - startup) / ours) * 100).toFixed(1)}% (aim < 3% + start-up); verified with qemu-img compare`);
