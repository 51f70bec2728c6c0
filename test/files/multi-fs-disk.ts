// One GPT disk with three filesystems made by the real tools from one tree of awkward files
// (symlinks, hard links, a sparse file, unicode and odd names, set times): p1 ext4 (mkfs.ext4 -d),
// p2 NTFS (mkntfs, the tree copied in through an ntfs-3g mount, as Windows-less hosts write NTFS),
// p3 FAT32, p4 FAT16, p5 FAT12 (mkfs.vfat, mtools). For the fast path's "same results either way" test.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, linkSync, writeFileSync, utimesSync, lutimesSync } from 'node:fs';
import path from 'node:path';

const MiB = 1024 * 1024;
const SECTOR = 512;
export const PARTS = {
  ext4: { number: 1, start: 2048, mib: 24 },
  ntfs: { number: 2, start: 2048 + 24 * 2048, mib: 24 },
  fat: { number: 3, start: 2048 + 48 * 2048, mib: 40 },
  fat16: { number: 4, start: 2048 + 88 * 2048, mib: 24 },
  fat12: { number: 5, start: 2048 + 112 * 2048, mib: 16 },
} as const;

const T0 = Date.UTC(2022, 2, 3, 4, 5, 6) / 1000;

// The tree, written into `root`: its paths relative to it.
export function writeAwkwardTree(root: string): void {
  const file = (name: string, content: string | Buffer, mtime: number) => {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), content);
    utimesSync(path.join(root, name), mtime - 3600, mtime);
  };
  file('a.txt', 'hello from a\n', T0 + 1.25);
  file('données/été.txt', 'café ☕\n', T0 + 2);
  file('dir with space/file one.txt', 'one\n', T0 + 3);
  file('odd \'quote" back\\slash', 'odd\n', T0 + 4);
  file('tab\tname', 'tab\n', T0 + 5);
  file('-dash', 'dash\n', T0 + 6);
  file('☕ emoji.txt', 'emoji\n', T0 + 7);
  file('sub/big.bin', Buffer.alloc(300 * 1024, 'abcdefgh'), T0 + 8);
  for (let i = 0; i < 40; i++) file(`sub/f${String(i).padStart(2, '0')}.txt`, `${i}\n`, T0 + 10 + i);
  // 6 MiB with 3 bytes of data in the middle: a sparse file.
  const sparse = path.join(root, 'sparse.bin');
  execFileSync('truncate', ['-s', `${6 * MiB}`, sparse]);
  execFileSync('dd', ['of=' + sparse, 'bs=1', `seek=${3 * MiB}`, 'conv=notrunc', 'status=none'], { input: 'xyz' });
  utimesSync(sparse, T0, T0 + 9);
  linkSync(path.join(root, 'a.txt'), path.join(root, 'hard link.txt'));
  symlinkSync('a.txt', path.join(root, 'link.txt'));
  symlinkSync('données/été.txt', path.join(root, 'deep link'));
  lutimesSync(path.join(root, 'link.txt'), T0, T0 + 11);
  lutimesSync(path.join(root, 'deep link'), T0, T0 + 12);
  for (const dir of ['données', 'dir with space', 'sub']) utimesSync(path.join(root, dir), T0, T0 + 20);
  utimesSync(root, T0, T0 + 30);
}

// The raw disk: GPT, p1 ext4 'extroot', p2 NTFS 'winfs', p3 FAT32, p4 FAT16 and p5 FAT12 'FATFS',
// each holding the tree (FAT: its regular files only, through mtools, which keeps their times with -m).
export function makeMultiFsDisk(raw: string, root: string, scratch: string): void {
  const size = (2048 + Object.values(PARTS).reduce((sum, part) => sum + part.mib, 0) * 2048 + 2048) * SECTOR;
  execFileSync('truncate', ['-s', String(size), raw]);
  const args: string[] = [];
  for (const [kind, part] of Object.entries(PARTS)) {
    const type = kind === 'ext4' ? '8300' : '0700';
    args.push('-n', `${part.number}:${part.start}:+${part.mib}M`, '-t', `${part.number}:${type}`);
  }
  execFileSync('sgdisk', [...args, raw], { stdio: 'ignore' });
  execFileSync('mkfs.ext4', [
    '-q',
    '-F',
    '-L',
    'extroot',
    '-d',
    root,
    '-E',
    `offset=${PARTS.ext4.start * SECTOR},nodiscard`,
    raw,
    `${PARTS.ext4.mib}M`,
  ]);
  writeInto(raw, PARTS.ntfs.start, ntfsImage(root, scratch));
  writeInto(raw, PARTS.fat.start, fatImage(root, scratch));
  writeInto(raw, PARTS.fat16.start, fatImage(root, scratch, 16));
  writeInto(raw, PARTS.fat12.start, fatImage(root, scratch, 12));
}

// An NTFS image holding the tree: mkntfs, then `cp -a` through ntfs-3g (as root, FUSE).
export function ntfsImage(root: string, scratch: string, place: { start: number; mib: number } = PARTS.ntfs): string {
  const image = path.join(scratch, 'ntfs.img');
  execFileSync('truncate', ['-s', `${place.mib}M`, image]);
  execFileSync('mkntfs', ['-F', '-Q', '-L', 'winfs', '-p', String(place.start), image], { stdio: 'ignore' });
  const mountPoint = mkdtempSync(path.join(scratch, 'ntfs-mnt-'));
  execFileSync('ntfs-3g', [image, mountPoint]);
  try {
    execFileSync('cp', ['-a', '--sparse=always', `${root}/.`, mountPoint]);
  } finally {
    execFileSync('fusermount3', ['-u', mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  }
  return image;
}

// The tree's plain files and folders FAT can name (no quotes, backslashes or tabs), by mtools.
const FAT_NAMES = ['a.txt', 'sub', 'données', 'dir with space', '-dash', '☕ emoji.txt', 'sparse.bin'];

// A FAT image (FAT32 unless `bits` says) with the tree's plain files and folders (mcopy -s -m keeps
// times; unicode names as long names), an 8.3 name, a read-only and a hidden file.
export function fatImage(root: string, scratch: string, bits: 12 | 16 | 32 = 32): string {
  const image = path.join(scratch, `fat${bits}.img`);
  rmSync(image, { force: true });
  execFileSync('truncate', ['-s', `${PARTS[({ 12: 'fat12', 16: 'fat16', 32: 'fat' } as const)[bits]].mib}M`, image]);
  execFileSync('mkfs.vfat', ['-F', String(bits), '-n', 'FATFS', image], { stdio: 'ignore' });
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C.UTF-8' };
  const files = FAT_NAMES.map((name) => path.join(root, name));
  execFileSync('mcopy', ['-s', '-m', '-i', image, ...files, '::/'], { env });
  const extra = path.join(scratch, 'README.TXT');
  writeFileSync(extra, 'an 8.3 name\n');
  utimesSync(extra, T0, T0 + 41);
  execFileSync('mcopy', ['-m', '-i', image, extra, '::/README.TXT'], { env });
  execFileSync('mcopy', ['-m', '-i', image, extra, '::/sub/read only.txt'], { env });
  execFileSync('mcopy', ['-m', '-i', image, extra, '::/sub/hidden.txt'], { env });
  execFileSync('mattrib', ['-i', image, '+r', '::/sub/read only.txt'], { env });
  execFileSync('mattrib', ['-i', image, '+h', '::/sub/hidden.txt'], { env });
  return image;
}

export function writeInto(raw: string, startSector: number, image: string): void {
  execFileSync('dd', [
    `if=${image}`,
    `of=${raw}`,
    `bs=${SECTOR}`,
    `seek=${startSector}`,
    'conv=notrunc,sparse',
    'status=none',
  ]);
}
