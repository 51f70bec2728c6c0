// File-level restore: time to the first listing of a point (`sendense-run files VM`, appliance
// start included), and extraction of FILES_BENCH_MIB (default 1024) MiB of files from that point
// with `sendense-run files --get p1:/data --to DIR` and `--to FILE.tar`, against guestfish's
// tar-out on the same backup file (what virt-tar-out runs, with -m /dev/sda1 instead of its OS
// inspection, which a data disk fails). Each command starts its own appliance; figures are
// printed with and without the listing's time (≈ one appliance start). Then the fast path against
// the appliance, each cold (its own command): the first listing of a directory (`files VM p1:/data`
// by debugfs, and with --appliance) and `--get` of one 16 MiB file, with the ratios
// (docs/file-level-restore.md#the-fast-path). The same first listing of a directory of an NTFS
// point (a second VM whose GPT disk's p1 is NTFS, made by mkntfs and filled through an ntfs-3g
// mount: needs root and FUSE), by ntfs-3g's tools against the appliance, cold, with the load; and
// of its p2, a FAT32 made by mkfs.vfat and mtools, by the FAT walker against the appliance.
// BENCH_RUNS (default 1). Needs `npm run build`, libguestfs; under software emulation (no working KVM) it is slow.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { cli as bin, requireBuild } from './support/built.js';
import { scratchDir } from './support/scratch.js';
import { median } from './support/stats.js';
import { timedRun } from './support/timed-run.js';

const MiB = 1024 * 1024;
const DATA_MIB = Number(process.env.FILES_BENCH_MIB ?? 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 1);
requireBuild('files');
const dir = scratchDir('sendense-bench-files-');
const db = join(dir, 'state.db');
const env = { ...process.env, CI: '1' };

// The guest's data: 16 MiB random files in 8 folders (plus a few small ones), on a GPT disk's ext4.
const root = join(dir, 'root');
for (let i = 0; i < DATA_MIB / 16; i++) {
  const folder = join(root, 'data', `set-${i % 8}`);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, `file-${i}.bin`), randomBytes(16 * MiB));
}
writeFileSync(join(root, 'data', 'small.txt'), 'small\n');
const raw = join(dir, 'disk.raw');
const partMiB = Math.ceil(DATA_MIB * 1.1) + 64;
execFileSync('truncate', ['-s', `${partMiB + 2}M`, raw]);
execFileSync('sgdisk', ['-n', `1:2048:+${partMiB}M`, '-t', '1:8300', raw], { stdio: 'ignore' });
execFileSync('mkfs.ext4', ['-q', '-d', root, '-E', 'offset=1048576,nodiscard', raw, `${partMiB}M`]);
rmSync(root, { recursive: true, force: true });
const source = join(dir, 'source.qcow2');
execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, source]);
rmSync(raw);
const plan = join(dir, 'bench-files.yaml');
writeFileSync(
  plan,
  [
    'version: 1',
    'kind: backup',
    'name: bench-files',
    'vm:',
    '  name: filesvm',
    '  source:',
    '    type: qemu',
    '    disks:',
    '      - key: 2000',
    `        path: ${source}`,
    'repository:',
    `  path: ${join(dir, 'repository')}`,
    'nbd:',
    '  ports: 30540-30559',
    '',
  ].join('\n'),
);
execFileSync(process.execPath, [bin, plan, '--db', db, '--quiet'], { env, stdio: 'ignore' });

// The NTFS point: 200 small files and 8 of 1 MiB in /data, p1 of a GPT disk.
const ntfsImage = join(dir, 'ntfs.img');
execFileSync('truncate', ['-s', '64M', ntfsImage]);
execFileSync('mkntfs', ['-F', '-Q', '-L', 'benchntfs', '-p', '2048', ntfsImage], { stdio: 'ignore' });
const ntfsMount = join(dir, 'ntfs-mnt');
mkdirSync(ntfsMount);
execFileSync('ntfs-3g', [ntfsImage, ntfsMount]);
try {
  mkdirSync(join(ntfsMount, 'data'));
  for (let i = 0; i < 200; i++) writeFileSync(join(ntfsMount, 'data', `note-${i}.txt`), `note ${i}\n`);
  for (let i = 0; i < 8; i++) writeFileSync(join(ntfsMount, 'data', `blob-${i}.bin`), randomBytes(MiB));
} finally {
  execFileSync('fusermount3', ['-u', ntfsMount]);
}
const ntfsRaw = join(dir, 'ntfs-disk.raw');
execFileSync('truncate', ['-s', '130M', ntfsRaw]);
execFileSync('sgdisk', ['-n', '1:2048:+64M', '-t', '1:0700', '-n', '2:133120:+64M', '-t', '2:0700', ntfsRaw], {
  stdio: 'ignore',
});
execFileSync('dd', [`if=${ntfsImage}`, `of=${ntfsRaw}`, 'bs=512', 'seek=2048', 'conv=notrunc,sparse', 'status=none']);
// Its p2: FAT32 with the same 200 small files in /data (mtools), for the FAT walker.
const fatData = join(dir, 'fat-data', 'data');
mkdirSync(fatData, { recursive: true });
for (let i = 0; i < 200; i++) writeFileSync(join(fatData, `note-${i}.txt`), `note ${i}\n`);
const fatImage = join(dir, 'fat.img');
// 64 MiB in 512-byte clusters: FAT32 by its cluster count too (under 65,525 clusters mtools reads a
// FAT16 with no root directory slots).
execFileSync('truncate', ['-s', '64M', fatImage]);
execFileSync('mkfs.vfat', ['-F', '32', '-s', '1', '-S', '512', fatImage], { stdio: 'ignore' });
execFileSync('mcopy', ['-s', '-m', '-i', fatImage, fatData, '::/'], {
  env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
});
execFileSync('dd', [`if=${fatImage}`, `of=${ntfsRaw}`, 'bs=512', 'seek=133120', 'conv=notrunc,sparse', 'status=none']);
rmSync(fatImage);
const ntfsSource = join(dir, 'ntfs-source.qcow2');
execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', ntfsRaw, ntfsSource]);
rmSync(ntfsRaw);
rmSync(ntfsImage);
const ntfsPlan = join(dir, 'bench-files-ntfs.yaml');
writeFileSync(
  ntfsPlan,
  readFileSync(plan, 'utf8')
    .replace('name: bench-files', 'name: bench-files-ntfs')
    .replace('name: filesvm', 'name: filesntfs')
    .replace(source, ntfsSource),
);
execFileSync(process.execPath, [bin, ntfsPlan, '--db', db, '--quiet'], { env, stdio: 'ignore' });
const backupFile = JSON.parse(
  execFileSync(process.execPath, [bin, 'backups', '--json', '--vm', 'filesvm', '--db', db], {
    encoding: 'utf8',
  }).trim(),
).disks[0].file;
const accelFile = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'sendense', 'libguestfs', 'accel.json');
console.log(
  `data: ${DATA_MIB} MiB in ${DATA_MIB / 16} files; backup ${backupFile}; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
);

const files = (...args) =>
  timedRun([process.execPath, bin, 'files', 'filesvm', '--db', db, '--quiet', ...args], { env, stdin: 'ignore' });
// After our first command the accel choice is known: guestfish gets the same (software emulation or not).
const tcg = () => {
  try {
    return JSON.parse(readFileSync(accelFile, 'utf8')).accel === 'tcg';
  } catch {
    return false;
  }
};

const results = {
  listing: [],
  dir: [],
  tar: [],
  tarOut: [],
  fastList: [],
  slowList: [],
  fastGet: [],
  slowGet: [],
  ntfsFast: [],
  ntfsSlow: [],
  fatFast: [],
  fatSlow: [],
};
const ntfsLoad = [];
const ntfsFiles = (...args) =>
  timedRun([process.execPath, bin, 'files', 'filesntfs', '--db', db, '--quiet', ...args], { env, stdin: 'ignore' });
for (let run = 0; run < RUNS; run++) {
  ntfsLoad.push(readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '));
  const ntfsFast = await ntfsFiles('--json', 'p1:/data');
  // A fast path that fell back to the appliance would time the wrong thing.
  if (!ntfsFast.stdout.includes('"reader":"ntfs-3g"'))
    throw new Error(`NTFS listed without ntfs-3g: ${ntfsFast.stdout.slice(0, 300)}`);
  results.ntfsFast.push(ntfsFast.seconds);
  results.ntfsSlow.push((await ntfsFiles('--appliance', 'p1:/data')).seconds);
  const fatFast = await ntfsFiles('--json', 'p2:/data');
  if (!fatFast.stdout.includes('"reader":"fat-walker"'))
    throw new Error(`FAT listed without the FAT walker: ${fatFast.stdout.slice(0, 300)}`);
  results.fatFast.push(fatFast.seconds);
  results.fatSlow.push((await ntfsFiles('--appliance', 'p2:/data')).seconds);
  results.fastList.push((await files('p1:/data/set-0')).seconds);
  results.slowList.push((await files('--appliance', 'p1:/data/set-0')).seconds);
  const one = join(dir, `one-${run}`);
  results.fastGet.push((await files('--get', 'p1:/data/set-0/file-0.bin', '--to', one)).seconds);
  rmSync(one, { recursive: true, force: true });
  results.slowGet.push((await files('--appliance', '--get', 'p1:/data/set-0/file-0.bin', '--to', one)).seconds);
  rmSync(one, { recursive: true, force: true });
  results.listing.push((await files()).seconds);
  const out = join(dir, `out-${run}`);
  results.dir.push((await files('--get', 'p1:/data', '--to', out)).seconds);
  rmSync(out, { recursive: true, force: true });
  const tar = join(dir, `out-${run}.tar`);
  results.tar.push((await files('--get', 'p1:/data', '--to', tar)).seconds);
  rmSync(tar, { force: true });
  const theirs = join(dir, `theirs-${run}.tar`);
  const gfEnv = {
    ...process.env,
    ...(tcg() ? { LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' } : {}),
    LIBGUESTFS_CACHEDIR: join(accelFile, '..'),
  };
  results.tarOut.push(
    (
      await timedRun(
        ['guestfish', '--ro', '--format=qcow2', '-a', backupFile, '-m', '/dev/sda1', 'tar-out', '/data', theirs],
        { env: gfEnv, stdin: 'ignore' },
      )
    ).seconds,
  );
  rmSync(theirs, { force: true });
}

const start = median(results.listing);
const line = (label, seconds) =>
  `${label.padEnd(44)} ${seconds.toFixed(1).padStart(6)} s  ${(DATA_MIB / seconds).toFixed(0).padStart(4)} MiB/s  (without one appliance start: ${(DATA_MIB / Math.max(0.1, seconds - start)).toFixed(0)} MiB/s)`;
console.log(
  `${'time to first listing (files VM)'.padEnd(44)} ${start.toFixed(1).padStart(6)} s  (appliance ${tcg() ? 'under software emulation' : 'with KVM'})`,
);
console.log(line('sendense-run files --get p1:/data --to DIR', median(results.dir)));
console.log(line('sendense-run files --get p1:/data --to X.tar', median(results.tar)));
console.log(line('guestfish tar-out /data (virt-tar-out)', median(results.tarOut)));
console.log(
  `ratio --to X.tar / tar-out throughput: ${(median(results.tarOut) / median(results.tar)).toFixed(2)}x; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
);
const versus = (label, fast, slow) =>
  console.log(
    `${label.padEnd(44)} fast path ${fast.toFixed(1).padStart(5)} s, appliance ${slow.toFixed(1).padStart(5)} s: ${(slow / fast).toFixed(1)}x faster`,
  );
versus('first listing of p1:/data/set-0 (cold)', median(results.fastList), median(results.slowList));
versus('files --get of one 16 MiB file (cold)', median(results.fastGet), median(results.slowGet));
versus('first listing of NTFS p1:/data, 208 entries (cold)', median(results.ntfsFast), median(results.ntfsSlow));
console.log(`  (NTFS: ntfs-3g's tools against the appliance; load average before it ${ntfsLoad.join('; ')})`);
versus('first listing of FAT32 p2:/data, 200 entries (cold)', median(results.fatFast), median(results.fatSlow));
