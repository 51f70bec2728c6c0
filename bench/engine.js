// What the engine adds to a backup: a whole `sendense-run` run (node start-up, plan validation,
// SQLite, qemu-img, qemu-nbd start/stop, bookkeeping) against the node transfer alone on the same
// data into a qemu-nbd target started beforehand. A 4 GiB qcow2 with 2 GiB of data: full backups,
// then 1%-dirty incrementals. Alternating runs after one warm-up each, medians. Needs `npm run
// build`. BENCH_RUNS=N (default 3), BENCH_TMPDIR (default /var/tmp).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const cli = resolve('bin/sendense-run.js');
const runner = resolve('runners/dist/sendense-transfer.mjs');
for (const built of [resolve('dist/src/cli/main.js'), runner]) {
  if (!existsSync(built)) {
    console.error(`bench engine: ${built} is missing: run npm run build first`);
    process.exit(1);
  }
}
const dir = mkdtempSync(join(process.env.BENCH_TMPDIR ?? '/var/tmp', 'sendense-bench-engine-'));
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

// Source: 256 regions of 8 MiB random data, each followed by an 8 MiB hole (as bench/transfer.js).
const source = join(dir, 'source.qcow2');
{
  const raw = join(dir, 'source.raw');
  const fd = openSync(raw, 'w');
  for (let region = 0; region < 256; region++) writeSync(fd, randomBytes(8 * MiB), 0, 8 * MiB, region * 16 * MiB);
  closeSync(fd);
  execFileSync('truncate', ['-s', String(4 * GiB), raw]);
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, source]);
  rmSync(raw);
}
const qemuImg = (...args) => execFileSync('qemu-img', args, { encoding: 'utf8' });
const bitmaps = () => (JSON.parse(qemuImg('info', '--output=json', source))['format-specific']?.data?.bitmaps ?? []).map((b) => b.name);

async function freePort() {
  return new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

// Runs argv to the end; wall seconds, stdout, and when each stdout line arrived.
function timed(argv) {
  return new Promise((done, fail) => {
    const started = Date.now();
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    children.add(child);
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.once('close', (code) => {
      children.delete(child);
      const ended = Date.now();
      if (code !== 0) fail(new Error(`${argv.join(' ')} exited ${code}: ${stdout.slice(-2000)}`));
      else done({ seconds: (ended - started) / 1000, started, ended, stdout });
    });
  });
}

// The transfer alone: the target qemu-nbd is started (untimed) the way the hub serves it.
async function transferAlone(targetFile, extra = []) {
  const port = await freePort();
  const target = spawn('qemu-nbd', ['-f', 'qcow2', '--shared=10', '-t', '-b', '127.0.0.1', '-p', String(port), '-x', 'target', targetFile], { stdio: 'ignore' });
  children.add(target);
  for (let i = 0; i < 500; i++) {
    const ok = await new Promise((done) => {
      const socket = connect({ host: '127.0.0.1', port }, () => (socket.destroy(), done(true)));
      socket.on('error', () => done(false));
    });
    if (ok) break;
    await sleep(10);
  }
  try {
    return await timed([process.execPath, runner, '--nbd-targets', `2000:nbd://127.0.0.1:${port}/target`, '--source', `2000=qemu:${source}`, ...extra]);
  } finally {
    await new Promise((done) => {
      target.once('exit', done);
      target.kill('SIGTERM');
    });
    children.delete(target);
  }
}

const basePort = 30000 + Math.floor(Math.random() * 200) * 10;
function writePlan(name, repository) {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'version: 1',
      'kind: incremental',
      `name: ${name}`,
      'vm:',
      '  name: benchvm',
      '  source:',
      '    type: qemu',
      '    disks:',
      `      - { key: 2000, path: ${source} }`,
      `repository: { path: ${repository} }`,
      `nbd: { ports: ${basePort}-${basePort + 9} }`,
      '',
    ].join('\n'),
  );
  return file;
}

// A whole engine run, with where its time went (from the --json events' timestamps).
async function engineRun(plan, db) {
  const result = await timed([process.execPath, cli, plan, '--db', db, '--json']);
  const events = result.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
  const at = (type, step) => Date.parse(events.find((e) => e.type === type && (step === undefined || e.step === step)).time);
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

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const fmt = (seconds) => `${seconds.toFixed(2)} s`;
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
for (let run = -1; run < RUNS; run++) {
  for (const what of run % 2 === 0 ? ['engine', 'alone'] : ['alone', 'engine']) {
    let result;
    if (what === 'engine') {
      const repository = join(dir, `repo-full-${run + 1}`);
      result = await engineRun(writePlan(`bench-full-${run + 1}`, repository), join(dir, `full-${run + 1}.db`));
      for (const name of bitmaps()) qemuImg('bitmap', '--remove', source, name);
      rmSync(repository, { recursive: true, force: true });
    } else {
      const target = join(dir, 'alone-full.qcow2');
      rmSync(target, { force: true });
      qemuImg('create', '-q', '-f', 'qcow2', target, String(4 * GiB));
      result = await transferAlone(target);
    }
    if (run < 0) continue;
    full[what].push(result);
    const detail = what === 'engine' ? `  (start-up ${fmt(result.startup)}, before ${fmt(result.before)}, transfer ${fmt(result.transfer)}, after ${fmt(result.after)})` : '';
    console.log(`  ${what.padEnd(6)} ${fmt(result.seconds)}${detail}`);
  }
}
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
for (let run = -1; run < RUNS; run++) {
  if (bitmaps().includes('bench-inc')) qemuImg('bitmap', '--remove', source, 'bench-inc');
  qemuImg('bitmap', '--add', source, 'bench-inc');
  const fill = ((run + 2) * 37) % 200 + 16;
  const writes = Array.from({ length: 41 }, (_, index) => ['-c', `write -P 0x${fill.toString(16)} ${index * 97 * MiB + (run + 1) * MiB} 1M`]).flat();
  execFileSync('qemu-io', ['-f', 'qcow2', ...writes, source], { stdio: 'ignore' });
  for (const what of run % 2 === 0 ? ['engine', 'alone'] : ['alone', 'engine']) {
    let result;
    if (what === 'engine') {
      result = await engineRun(chainPlan, chainDb);
      lastBackup = result.backupId;
    } else {
      const overlay = join(dir, 'alone-inc.qcow2');
      rmSync(overlay, { force: true });
      qemuImg('create', '-q', '-f', 'qcow2', '-b', baseFile, '-F', 'qcow2', overlay);
      result = await transferAlone(overlay, ['--bitmap', '2000=bench-inc']);
    }
    if (run < 0) continue;
    inc[what].push(result);
    const detail = what === 'engine' ? `  (start-up ${fmt(result.startup)}, before ${fmt(result.before)}, transfer ${fmt(result.transfer)}, after ${fmt(result.after)})` : '';
    console.log(`  ${what.padEnd(6)} ${fmt(result.seconds)}${detail}`);
  }
}
summary('incremental median', inc.engine, inc.alone);
qemuImg('compare', '-q', source, join(chainRepository, 'benchvm', 'disk-2000', `${lastBackup}.qcow2`));
console.log('the last engine incremental, read through its chain, equals the source (qemu-img compare)');
