// Encryption and compression at rest (docs/encryption.md): a realistic disk (an ext4 file system
// made from this machine's /usr with mke2fs -d, plus empty space) backed up full and incremental
// and restored, into a plain, an encrypted and a zstd repository, in the same run. Prints the wall
// time of each against plain (aims: encrypted <= 1.3x for backups, <= 1.2x for restores), the
// repository bytes with compression against without, and against `zstd -1` of the same image
// (aim: within 10%). One run. Needs `npm run build`. BENCH_TREE=DIR for another tree than /usr,
// BENCH_TMPDIR for where the images go (default /var/tmp), BENCH_REPOSITORIES=plain,encrypted for
// some of the three repositories only (plain is always run: the others are read against it).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli as bin, requireBuild } from './support/built.js';
import { scratchDir } from './support/scratch.js';
import { timedRun } from './support/timed-run.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
requireBuild('encryption');
const dir = scratchDir('sendense-bench-encryption-');
const tree = process.env.BENCH_TREE ?? '/usr';

// The disk: the tree as ext4, with as much empty space again (at least 2 GiB).
const treeBytes = Number(execFileSync('du', ['-sb', tree], { encoding: 'utf8' }).split('\t')[0]);
const size = Math.ceil((treeBytes * 2 + 2 * GiB) / GiB) * GiB;
const raw = join(dir, 'disk.raw');
let started = Date.now();
execFileSync('mke2fs', ['-q', '-t', 'ext4', '-d', tree, '-F', raw, `${size / MiB}M`], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
const allocated = Number(execFileSync('du', ['-B1', raw], { encoding: 'utf8' }).split('\t')[0]);
console.log(
  `disk: ext4 of ${tree} (${(treeBytes / GiB).toFixed(2)} GiB of files), ${(size / GiB).toFixed(0)} GiB virtual, ${(allocated / GiB).toFixed(2)} GiB allocated; made in ${((Date.now() - started) / 1000).toFixed(0)} s`,
);
const base = join(dir, 'base.qcow2');
execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, base]);

// zstd -1 of the image's data (its holes cost zstd next to nothing): the reference for compression.
const wanted = new Set(['plain', ...(process.env.BENCH_REPOSITORIES ?? 'plain,encrypted,zstd').split(',')]);
let zstdBytes = 0;
if (wanted.has('zstd')) {
  started = Date.now();
  const zstd = spawnSync('sh', ['-c', 'zstd -1 -T1 -c "$1" | wc -c', 'sh', raw], { encoding: 'utf8' });
  zstdBytes = Number(zstd.stdout.trim());
  console.log(
    `zstd -1 of the image: ${(zstdBytes / GiB).toFixed(3)} GiB in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
}
execFileSync('rm', ['-f', raw]);

// The incremental's changes: 64 scattered 4 MiB writes of data from the tree's own files (256 MiB).
const change = join(dir, 'change.bin');
execFileSync('sh', [
  '-c',
  `find "$1" -type f -size +1M 2>/dev/null | head -200 | xargs cat 2>/dev/null | head -c ${4 * MiB} > "$2"`,
  'sh',
  tree,
  change,
]);
const changes = Array.from({ length: 64 }, (_, index) => [
  '-c',
  `write -s ${change} ${Math.floor(((index + 0.5) * size) / 64 / MiB) * MiB} 4M`,
]).flat();

const key = join(dir, 'repository.key');
writeFileSync(key, execFileSync('openssl', ['rand', '-base64', '32']), { mode: 0o600 });
const configs = {
  plain: [],
  encrypted: ['  encryption:', `    keyFile: ${key}`],
  zstd: ['  compression: zstd'],
};
const yaml = (lines) => `${lines.join('\n')}\n`;
const sendenseRun = async (plan, db) =>
  (
    await timedRun([process.execPath, bin, plan, '--db', db, '--quiet'], {
      stdin: 'ignore',
      env: { ...process.env, CI: '1' },
    })
  ).seconds;

const results = {};
for (const [name, repositoryLines] of Object.entries(configs).filter(([name]) => wanted.has(name))) {
  const work = join(dir, name);
  mkdirSync(work);
  const source = join(work, 'source.qcow2');
  copyFileSync(base, source);
  const db = join(work, 'state.db');
  const repository = join(work, 'repository');
  const common = [
    'version: 1',
    'repository:',
    `  path: ${repository}`,
    ...repositoryLines,
    'nbd:',
    '  ports: 30560-30579',
  ];
  const backupPlan = join(work, 'backup.yaml');
  writeFileSync(
    backupPlan,
    yaml([
      ...common,
      'kind: incremental',
      `name: bench-${name}`,
      'vm:',
      '  name: benchvm',
      '  source:',
      '    type: qemu',
      '    disks:',
      '      - key: 2000',
      `        path: ${source}`,
    ]),
  );
  const full = await sendenseRun(backupPlan, db);
  const fullBytes = Number(execFileSync('du', ['-sB1', repository], { encoding: 'utf8' }).split('\t')[0]);
  execFileSync('qemu-io', ['-f', 'qcow2', ...changes, source], { stdio: 'ignore' });
  const incremental = await sendenseRun(backupPlan, db);
  const repositoryBytes = Number(execFileSync('du', ['-sB1', repository], { encoding: 'utf8' }).split('\t')[0]);
  // The copy alone (verify: false), then a restore as plans do it by default (verify: true: the
  // restored disk compared with the chain, every file's digests checked).
  const restoreTime = async (verify) => {
    const restorePlan = join(work, `restore-${verify}.yaml`);
    const target = join(work, `restored-${verify}-{key}.qcow2`);
    writeFileSync(
      restorePlan,
      yaml([
        ...common,
        'kind: restore',
        `name: bench-${name}-restore-${verify}`,
        'vm:',
        '  name: benchvm',
        'restore:',
        '  point: latest',
        `  verify: ${verify}`,
        '  target:',
        '    type: file',
        `    path: ${target}`,
        '    format: qcow2',
      ]),
    );
    return sendenseRun(restorePlan, db);
  };
  const restore = await restoreTime(false);
  const restoreVerified = await restoreTime(true);
  results[name] = { full, incremental, restore, restoreVerified, fullBytes, repositoryBytes };
  console.log(
    `${name.padEnd(10)} full ${full.toFixed(1)} s, incremental ${incremental.toFixed(1)} s, restore ${restore.toFixed(1)} s (with verify ${restoreVerified.toFixed(1)} s); repository ${(fullBytes / GiB).toFixed(3)} GiB after the full, ${(repositoryBytes / GiB).toFixed(3)} GiB after the incremental`,
  );
  execFileSync('rm', ['-rf', work]);
}

const { plain, encrypted, zstd: compressed } = results;
const x = (ours, theirs) => `${(ours / theirs).toFixed(2)}x`;
if (encrypted)
  console.log(
    `encrypted / plain time: full ${x(encrypted.full, plain.full)}, incremental ${x(encrypted.incremental, plain.incremental)} (aim <= 1.3x), restore ${x(encrypted.restore, plain.restore)} (aim <= 1.2x), restore with verify ${x(encrypted.restoreVerified, plain.restoreVerified)}`,
  );
if (compressed) {
  console.log(
    `zstd / plain time: full ${x(compressed.full, plain.full)}, incremental ${x(compressed.incremental, plain.incremental)}, restore ${x(compressed.restore, plain.restore)}, restore with verify ${x(compressed.restoreVerified, plain.restoreVerified)}`,
  );
  console.log(
    `repository bytes: zstd / plain ${x(compressed.repositoryBytes, plain.repositoryBytes)} (full + incremental); the zstd full / zstd -1 of the image ${x(compressed.fullBytes, zstdBytes)} (aim <= 1.10x)`,
  );
}
