// An encrypted repository as a user times it (docs/encryption.md): the same 1 GiB qcow2 (512 MiB of
// random data) backed up full and then 3 incrementals (each after 16 scattered 2 MiB writes) into
// a plain and into an encrypted repository, then the newest point of each restored to a qcow2 file
// as a restore plan does it by default (verify on). Whole CLI commands, spawn to exit, alternating
// which repository goes first each round, a new repository each round; medians and ratios
// (aims: backups <= 1.3x, restore <= 1.2x), and each step's median seconds from the runs' own
// --json events. Beside them, in the same rounds, the floor QEMU itself sets: `qemu-img convert` of
// the same image into a new qcow2, plain to plain, from a LUKS-encrypted qcow2 (decrypting, as a
// restore reads) and into one (encrypting, as a backup writes). Needs `npm run build`.
// BENCH_RUNS=N rounds (default 3), BENCH_TMPDIR.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { alternatingRounds } from './support/alternating-rounds.js';
import { cli as bin, requireBuild } from './support/built.js';
import { scratchDir } from './support/scratch.js';
import { makeSourceImage } from './support/source-image.js';
import { median, spread } from './support/stats.js';
import { stepTimes } from './support/step-times.js';
import { timedRun } from './support/timed-run.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const INCREMENTALS = 3;
requireBuild('encrypted-chain');
const dir = scratchDir('sendense-bench-encrypted-chain-');
const yaml = (lines) => `${lines.join('\n')}\n`;

const base = join(dir, 'base.qcow2');
makeSourceImage(base, { regions: 64, size: GiB });
const key = join(dir, 'repository.key');
writeFileSync(key, execFileSync('openssl', ['rand', '-base64', '32']), { mode: 0o600 });
const configs = { plain: [], encrypted: ['  encryption:', `    keyFile: ${key}`] };

// The floor: qemu-img alone, with a passphrase of its own (from a file: never on a command line).
const passphrase = join(dir, 'floor.passphrase');
writeFileSync(passphrase, 'bench-floor', { mode: 0o600 });
const secret = ['--object', `secret,id=s,file=${passphrase}`];
const luksOpts = (file) => `driver=qcow2,file.filename=${file},encrypt.key-secret=s`;
// QEMU times PBKDF2 on the thread's CPU clock and gives up when that clock is too coarse ("Unable
// to get accurate CPU usage", bench/README.md#encryption): tried again until it is made.
function createLuks(file) {
  for (let attempt = 1; ; attempt++) {
    const made = spawnSync('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      ...secret,
      '-o',
      'encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10',
      file,
      String(GiB),
    ]);
    if (made.status === 0) return;
    if (attempt === 20) throw new Error(`qemu-img create ${file}: ${made.stderr}`);
  }
}
const encryptedBase = join(dir, 'base-luks.qcow2');
createLuks(encryptedBase);
execFileSync('qemu-img', ['convert', '-n', ...secret, base, '--target-image-opts', luksOpts(encryptedBase)]);
const convertArgs = ['convert', '-n', '--target-is-zero', '-t', 'writeback', '-m', '16'];
const floors = { plain: [], decrypt: [], encrypt: [] };
async function floorRound() {
  for (const [name, make, argv] of [
    [
      'plain',
      plainTarget,
      (target) => [...convertArgs, base, '--target-image-opts', `driver=qcow2,file.filename=${target}`],
    ],
    [
      'decrypt',
      plainTarget,
      (target) => [
        ...convertArgs,
        ...secret,
        '--image-opts',
        '--target-image-opts',
        luksOpts(encryptedBase),
        `driver=qcow2,file.filename=${target}`,
      ],
    ],
    ['encrypt', createLuks, (target) => [...convertArgs, ...secret, base, '--target-image-opts', luksOpts(target)]],
  ]) {
    const target = join(dir, `floor-${name}.qcow2`);
    make(target);
    floors[name].push((await timedRun(['qemu-img', ...argv(target)], { stdin: 'ignore' })).seconds);
    rmSync(target);
  }
}
function plainTarget(file) {
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', file, String(GiB)]);
}

// The same writes for both repositories of a round: per incremental, 16 writes of 2 MiB of new
// random data at offsets spread over the disk (over data and over holes).
let changes = [];
function makeChanges(round) {
  changes = Array.from({ length: INCREMENTALS }, (_, index) => {
    const data = join(dir, `change-${index}.bin`);
    writeFileSync(data, randomBytes(2 * MiB));
    return Array.from({ length: 16 }, (_, write) => {
      const offset = (((write * 61 + index * 17 + Math.max(round, 0) * 7) % 512) * 2 * MiB) % GiB;
      return ['-c', `write -s ${data} ${offset} 2M`];
    }).flat();
  });
}

const loads = [];
const results = { plain: [], encrypted: [] };
async function cliRun(plan, db) {
  const run = await timedRun([process.execPath, bin, plan, '--db', db, '--json'], {
    stdin: 'ignore',
    env: { ...process.env, CI: '1' },
  });
  return { seconds: run.seconds, steps: stepTimes(run.stdout, run.started, run.ended)?.times ?? {} };
}

await alternatingRounds(
  RUNS,
  Object.keys(configs),
  async (name, round) => {
    loads.push(loadavg()[0]);
    const work = join(dir, `${name}-${round}`);
    mkdirSync(work);
    const source = join(work, 'source.qcow2');
    copyFileSync(base, source);
    const db = join(work, 'state.db');
    const common = ['version: 1', 'repository:', `  path: ${join(work, 'repository')}`, ...configs[name]];
    const backupPlan = join(work, 'backup.yaml');
    writeFileSync(
      backupPlan,
      yaml([
        ...common,
        'kind: incremental',
        `name: bench-${name}`,
        'nbd:',
        '  ports: 30580-30599',
        'vm:',
        '  name: benchvm',
        '  source:',
        '    type: qemu',
        '    disks:',
        '      - key: 2000',
        `        path: ${source}`,
      ]),
    );
    const restorePlan = join(work, 'restore.yaml');
    writeFileSync(
      restorePlan,
      yaml([
        ...common,
        'kind: restore',
        `name: bench-${name}-restore`,
        'vm:',
        '  name: benchvm',
        'restore:',
        '  point: latest',
        '  target:',
        '    type: file',
        `    path: ${join(work, 'restored-{key}.qcow2')}`,
        '    format: qcow2',
      ]),
    );
    const backups = [await cliRun(backupPlan, db)];
    for (const writes of changes) {
      execFileSync('qemu-io', ['-f', 'qcow2', ...writes, source], { stdio: 'ignore' });
      backups.push(await cliRun(backupPlan, db));
    }
    const restore = await cliRun(restorePlan, db);
    if (round >= 0) results[name].push({ backups, restore });
    rmSync(work, { recursive: true, force: true });
    if (name === 'encrypted') await floorRound();
  },
  { beforeRound: makeChanges },
);

const seconds = (runs) => runs.reduce((sum, run) => sum + run.seconds, 0);
const figures = (name) => ({
  backups: results[name].map((round) => seconds(round.backups)),
  full: results[name].map((round) => round.backups[0].seconds),
  incremental: results[name].map((round) => median(round.backups.slice(1).map((run) => run.seconds))),
  restore: results[name].map((round) => round.restore.seconds),
});
const plain = figures('plain');
const encrypted = figures('encrypted');
console.log(
  `load average ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}; ${RUNS} rounds; medians (range)`,
);
for (const [what, aim] of [
  ['backups', 'full + 3 incrementals, aim <= 1.3x'],
  ['full', ''],
  ['incremental', ''],
  ['restore', 'newest point, verify on, aim <= 1.2x'],
]) {
  const ours = median(encrypted[what]);
  const theirs = median(plain[what]);
  console.log(
    `${what.padEnd(12)} encrypted ${ours.toFixed(2)} s (${spread(encrypted[what])}), plain ${theirs.toFixed(2)} s (${spread(plain[what])}): ${(ours / theirs).toFixed(2)}x${aim ? ` (${aim})` : ''}`,
  );
}
// The floor, from the same rounds (the warm-up round's too).
const floor = (what) => median(floors[what]);
console.log(
  `floor, qemu-img convert alone: plain ${floor('plain').toFixed(2)} s (${spread(floors.plain)}), decrypting ${floor('decrypt').toFixed(2)} s (${spread(floors.decrypt)}): ${(floor('decrypt') / floor('plain')).toFixed(2)}x, encrypting ${floor('encrypt').toFixed(2)} s (${spread(floors.encrypt)}): ${(floor('encrypt') / floor('plain')).toFixed(2)}x`,
);
// Each step's median over the rounds, for the incrementals and the restore.
for (const name of ['plain', 'encrypted']) {
  for (const [what, pick] of [
    ['incremental', (round) => round.backups.slice(1)],
    ['restore', (round) => [round.restore]],
  ]) {
    const runs = results[name].flatMap(pick);
    const steps = [...new Set(runs.flatMap((run) => Object.keys(run.steps)))];
    const parts = steps.map((step) => `${step} ${median(runs.map((run) => run.steps[step] ?? 0)).toFixed(2)}`);
    console.log(`steps, ${name} ${what} (s, median): ${parts.join(', ')}`);
  }
}
