// Restore throughput: `sendense-run` restoring the latest point of a chain (full + 1 incremental,
// 4 GiB virtual, 2 GiB of data) into a qcow2 file on this host, and into a qcow2 served by
// qemu-nbd (the node transfer's path, as for a remote node), against `qemu-img convert -O qcow2`
// of the same chain (its default cache=unsafe, and -t writeback, which flushes like we do);
// warm-up, rotating order, medians, throughput ratios (aim >= 0.8x). Needs `npm run build`.
// BENCH_RUNS=N for more runs, BENCH_TMPDIR for where the images go (default /var/tmp).
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'sendense-run.js');
if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js')) || !existsSync(join(root, 'runners', 'dist', 'sendense-transfer.mjs'))) {
  console.error('bench restore: run `npm run build` first');
  process.exit(1);
}
const dir = mkdtempSync(join(process.env.BENCH_TMPDIR ?? '/var/tmp', 'sendense-bench-restore-'));
const db = join(dir, 'state.db');
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

function timed(argv) {
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1' } });
    children.add(child);
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('close', (code) => {
      children.delete(child);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`${argv.join(' ')} exited ${code}: ${output.slice(-2000)}`));
      else resolvePromise(seconds);
    });
  });
}
const sendenseRun = (...args) => timed([process.execPath, bin, ...args, '--db', db, '--quiet']);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rate = (seconds) => `${((2 * GiB) / MiB / seconds).toFixed(0)} MiB/s`;

// The VM's disk: 224 regions of 8 MiB random data, each followed by an 8 MiB hole (1.75 GiB).
const source = join(dir, 'source.qcow2');
{
  const raw = join(dir, 'source.raw');
  const fd = openSync(raw, 'w');
  for (let region = 0; region < 224; region++) writeSync(fd, randomBytes(8 * MiB), 0, 8 * MiB, region * 16 * MiB);
  closeSync(fd);
  execFileSync('truncate', ['-s', String(4 * GiB), raw]);
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, source]);
  rmSync(raw);
}
const yaml = (lines) => `${lines.join('\n')}\n`;
const backupPlan = join(dir, 'bench-backup.yaml');
writeFileSync(
  backupPlan,
  yaml(['version: 1', 'kind: incremental', 'name: bench-backup', 'vm:', '  name: benchvm', '  source:', '    type: qemu', '    disks:', '      - key: 2000', `        path: ${source}`, 'repository:', `  path: ${join(dir, 'repository')}`, 'nbd:', '  ports: 30500-30539']),
);
const fullSeconds = await sendenseRun(backupPlan);
// The incremental: 32 new 8 MiB regions in former holes (256 MiB), so the chain holds 2 GiB of data.
const writes = Array.from({ length: 32 }, (_, index) => ['-c', `write -P 0x${(index + 16).toString(16)} ${(index * 7 * 16 + 8) * MiB} 8M`]).flat();
execFileSync('qemu-io', ['-f', 'qcow2', ...writes, source], { stdio: 'ignore' });
const incrementalSeconds = await sendenseRun(backupPlan);
const top = JSON.parse(execFileSync(process.execPath, [bin, 'backups', '--json', '--db', db], { encoding: 'utf8' }).trim().split('\n').at(-1)).disks[0].file;
console.log(`chain: full ${fullSeconds.toFixed(1)} s + incremental ${incrementalSeconds.toFixed(1)} s (taken with sendense-run); top ${top}`);

const out = join(dir, 'restore');
mkdirSync(out);
function restorePlan(name, target, verify = false) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    yaml(['version: 1', 'kind: restore', `name: ${name}`, 'vm: { name: benchvm }', `repository: { path: ${join(dir, 'repository')} }`, 'nbd:', '  ports: 30500-30539', 'restore:', '  point: latest', '  disks: [2000]', '  target:', ...target, `  verify: ${verify}`]),
  );
  return file;
}
const ours = join(out, 'ours-2000.qcow2');
const fileTarget = ['    type: file', `    path: ${join(out, 'ours-{key}.qcow2')}`, '    format: qcow2', '    overwrite: true'];
const filePlan = restorePlan('bench-restore-file', fileTarget);

async function freePort() {
  return new Promise((resolvePort) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}
// A fresh qcow2 served read-write by qemu-nbd on 127.0.0.1 (started and stopped outside the timing).
async function nbdTarget(file) {
  rmSync(file, { force: true });
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(4 * GiB)]);
  const port = await freePort();
  const child = spawn('qemu-nbd', ['-f', 'qcow2', '--shared=10', '-t', '-b', '127.0.0.1', '-p', String(port), '-x', 'target', file], { stdio: 'ignore' });
  children.add(child);
  for (let attempt = 0; attempt < 200; attempt++) {
    const ok = await new Promise((resolveOk) => {
      const socket = connect({ host: '127.0.0.1', port }, () => (socket.destroy(), resolveOk(true)));
      socket.on('error', () => resolveOk(false));
    });
    if (ok) break;
    await sleep(20);
  }
  const stop = () =>
    new Promise((resolveStop) => {
      child.once('exit', resolveStop);
      child.kill('SIGTERM');
      children.delete(child);
    });
  return { url: `nbd://127.0.0.1:${port}/target`, stop };
}
const viaNbd = join(out, 'nbd.qcow2');
const converted = join(out, 'convert.qcow2');
const convertedWb = join(out, 'convert-wb.qcow2');
const tools = {
  'sendense-run file': () => (rmSync(ours, { force: true }), sendenseRun(filePlan)),
  'sendense-run nbd': async () => {
    const target = await nbdTarget(viaNbd);
    try {
      return await sendenseRun(restorePlan('bench-restore-nbd', ['    type: nbd', `    url: ${target.url}`]));
    } finally {
      await target.stop();
    }
  },
  'qemu-img convert': () => (rmSync(converted, { force: true }), timed(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'qcow2', top, converted])),
  'convert -t writeback': () => (rmSync(convertedWb, { force: true }), timed(['qemu-img', 'convert', '-t', 'writeback', '-f', 'qcow2', '-O', 'qcow2', top, convertedWb])),
};
const names = Object.keys(tools);
const times = Object.fromEntries(names.map((name) => [name, []]));
console.log(`restore of the latest point (4 GiB virtual, 2 GiB data) into a new qcow2: one warm-up round, then ${RUNS} rounds, order rotating`);
for (let round = -1; round < RUNS; round++) {
  const order = names.map((_, index) => names[(index + Math.max(round, 0)) % names.length]);
  for (const name of order) {
    const seconds = await tools[name]();
    if (round < 0) continue;
    times[name].push(seconds);
    console.log(`  ${name.padEnd(22)}${seconds.toFixed(2)} s  ${rate(seconds)}`);
  }
}
for (const file of [ours, viaNbd, converted, convertedWb]) execFileSync('qemu-img', ['compare', '-q', source, file]);
const medians = Object.fromEntries(names.map((name) => [name, median(times[name])]));
for (const name of names) console.log(`median ${name.padEnd(22)}${medians[name].toFixed(2)} s  ${rate(medians[name])}`);
const ratio = (ours, theirs) => `${(medians[theirs] / medians[ours]).toFixed(2)}x`;
console.log(`throughput ratio vs qemu-img convert (default, unflushed): file ${ratio('sendense-run file', 'qemu-img convert')}, nbd ${ratio('sendense-run nbd', 'qemu-img convert')}`);
console.log(`throughput ratio vs qemu-img convert -t writeback (flushed, like ours): file ${ratio('sendense-run file', 'convert -t writeback')}, nbd ${ratio('sendense-run nbd', 'convert -t writeback')} (aim >= 0.8x)`);
console.log('all four results verified equal to the source with qemu-img compare');
rmSync(ours, { force: true });
const verified = await sendenseRun(restorePlan('bench-restore-verify', fileTarget, true));
console.log(`file restore with verify: true (restore + compare with the chain through qemu-nbd): ${verified.toFixed(2)} s`);
