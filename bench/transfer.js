// The node transfer against nbdcopy: a 4 GiB qcow2 with 2 GiB of data into a fresh qcow2
// served by qemu-nbd (as the hub serves it), warm-up, alternating runs, median times and
// spread; CPU seconds of each tool and of the target (steadier than wall time on a loaded
// machine); then a 1%-dirty incremental against start-up alone, alternating; peak RSS from the
// runner's own debug line. BENCH_RUNS=N (default 5) runs each.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const dir = mkdtempSync(join(process.env.BENCH_TMPDIR ?? '/var/tmp', 'sendense-bench-'));
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

const runner = join(dir, 'sendense-transfer.mjs');
await build({ entryPoints: ['runners/sendense-transfer.ts'], outfile: runner, bundle: true, platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning' });
// The target qemu-nbd gets the hub's environment (src/qemu/qemu-nbd-env.ts: malloc tunables).
const envModule = join(dir, 'qemu-nbd-env.mjs');
await build({ entryPoints: ['src/qemu/qemu-nbd-env.ts'], outfile: envModule, bundle: true, platform: 'node', target: 'node20', format: 'esm', logLevel: 'warning' });
const { qemuNbdEnv } = await import(envModule);
const uptime = () => execFileSync('uptime').toString().trim().replace(/^.*load/, 'load');
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
  const child = spawn('qemu-nbd', ['-f', 'qcow2', '--shared=10', '-t', '-b', '127.0.0.1', '-p', String(port), '-x', 'target', file], { stdio: 'ignore', env: qemuNbdEnv() });
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
    cpuSeconds: () => cpuSecondsOf(child.pid),
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
    const [command, ...args] = [...gnuTime, ...argv];
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.once('close', (code) => {
      children.delete(child);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpu = /CPU (\S+) (\S+)/.exec(stderr);
      if (code !== 0) reject(new Error(`${argv.join(' ')} exited ${code}: ${stdout.slice(-2000)} ${stderr.slice(-2000)}`));
      else resolve({ seconds, stdout, cpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN });
    });
  });
}

async function copyOnce(tool, targetFile, extra = []) {
  const target = await startTarget(targetFile);
  try {
    const result =
      tool === 'nbdcopy'
        ? // Fair: nbdcopy also starts its own read-only qemu-nbd on the source (socket activation).
          await timed(['nbdcopy', '--flush', '--', '[', 'qemu-nbd', '-r', '-f', 'qcow2', source, ']', target.url])
        : await timed([process.execPath, runner, '--nbd-targets', `2000:${target.url}`, '--source', `2000=qemu:${source}`, ...extra]);
    return { ...result, targetCpuSeconds: target.cpuSeconds() };
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
const spread = (values) => `${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}`;
const peakRss = (stdout) => stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line)).find((line) => line.message === 'peak memory')?.maxRssBytes ?? 0;

const runs = { ours: [], nbdcopy: [] };
const rss = [];
console.log(`full: 4 GiB qcow2, 2 GiB data, ${RUNS} runs each after one warm-up each, alternating; ${uptime()}`);
for (let run = -1; run < RUNS; run++) {
  for (const tool of run % 2 === 0 ? ['ours', 'nbdcopy'] : ['nbdcopy', 'ours']) {
    const result = await copyOnce(tool, freshTarget(`full-${tool}.qcow2`));
    if (run < 0) continue;
    runs[tool].push(result);
    if (tool === 'ours') rss.push(peakRss(result.stdout));
    const cpu = `cpu ${result.cpuSeconds.toFixed(2)} s, target cpu ${result.targetCpuSeconds.toFixed(2)} s`;
    console.log(`  ${tool.padEnd(7)} ${result.seconds.toFixed(2)} s  ${((2 * GiB) / MiB / result.seconds).toFixed(0)} MiB/s  (${cpu})`);
  }
}
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
console.log(`full median: ours ${ours.toFixed(2)} s, nbdcopy ${theirs.toFixed(2)} s, ratio ${(ours / theirs).toFixed(2)}x (aim <= 1.0x; per-pair ratios ${spread(ratios)})`);
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
  const overlay = join(dir, `inc-${bitmap}.qcow2`);
  rmSync(overlay, { force: true });
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay]);
  return (await copyOnce('ours', overlay, ['--bitmap', `2000=${bitmap}`])).seconds;
}
const incRuns = { b1: [], b2: [] };
for (let run = -1; run < RUNS; run++) {
  for (const bitmap of run % 2 === 0 ? ['b1', 'b2'] : ['b2', 'b1']) {
    const seconds = await incremental(bitmap);
    if (run >= 0) incRuns[bitmap].push(seconds);
  }
}
const startup = median(incRuns.b2);
const inc = median(incRuns.b1);
execFileSync('qemu-img', ['compare', '-q', source, join(dir, 'inc-b1.qcow2')]);
console.log(`start-up (incremental with nothing dirty) median ${startup.toFixed(2)} s (range ${spread(incRuns.b2)}); 1% incremental range ${spread(incRuns.b1)}; ${uptime()}`);
console.log(`incremental (1% dirty) median ${inc.toFixed(2)} s = ${((inc / ours) * 100).toFixed(1)}% of the full; minus start-up ${(((inc - startup) / ours) * 100).toFixed(1)}% (aim < 3% + start-up); verified with qemu-img compare`);
