// The fast path on more than ext4 (docs/file-level-restore.md#the-fast-path): one GPT disk with
// ext4, NTFS, FAT32, FAT16 and FAT12 partitions holding the same awkward tree (./multi-fs-disk.ts: symlinks, hard
// links, a sparse file, unicode and odd names), backed up with the real CLI. Each directory is
// listed both ways, the fast path (`files --no-session`) and the appliance (one per point, shared:
// ./shared-appliance.ts), and the entries compared field by field (names, types, sizes, modes,
// owners, times, symlink targets); files extracted both ways are compared byte for byte. A
// crafted NTFS (flipped MFT bytes, a huge file size) or FAT (a looping cluster chain, a folder
// holding itself, a huge file size) is one clear error or a listing, within the reader's bound.

import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotForFastPath } from '../../src/files/fast/ext-reader.js';
import { FatReader } from '../../src/files/fast/fat-reader.js';
import { NtfsReader } from '../../src/files/fast/ntfs-reader.js';
import { pickReaderUser } from '../../src/files/fast/reader-user.js';
import { findPackageRoot } from '../../src/node/package-root.js';
import type { DrillRun } from '../../src/kinds/drill/drill-run.js';
import { filesCheck } from '../../src/kinds/drill/point-checks.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { addApiToken, startApiServer } from '../support/api-server.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { jsonLines, readTree, repositoryFingerprint, sendenseFiles } from './guest-disk.js';
import { fatImage, makeMultiFsDisk, ntfsImage, writeAwkwardTree } from './multi-fs-disk.js';
import { sharedFiles } from './shared-appliance.js';

const ws = useRunWorkspace('files-fast-ntfs-', { per: 'file' });
const BOOT = 600_000;
let db = '';
let root = '';
let before: Record<string, string> = {};

beforeAll(async () => {
  root = path.join(ws.dir, 'tree');
  const scratch = path.join(ws.dir, 'scratch');
  mkdirSync(root);
  mkdirSync(scratch);
  writeAwkwardTree(root);
  const raw = path.join(ws.dir, 'multi.raw');
  makeMultiFsDisk(raw, root, scratch);
  const source = path.join(ws.dir, 'ntvm-2000.qcow2');
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, source]);
  db = path.join(ws.dir, 'state.db');
  const plan = writePlan(ws.dir, {
    name: 'ntvm-backup',
    kind: 'backup',
    vm: 'ntvm',
    disks: [{ key: 2000, path: source }],
    repository: ws.repository,
    ports: portRangeForTestFile(10),
  });
  const result = await sendenseRun([plan, '--db', db]);
  if (result.exitCode !== 0) throw new Error(`backup failed:\n${result.stdout}\n${result.stderr}`);
  before = repositoryFingerprint(ws.repository);
}, 600_000);

const shared = sharedFiles(() => db);
afterAll(async () => {
  await shared.close();
  if (db) expect(repositoryFingerprint(ws.repository)).toEqual(before);
});

const files = (...args: string[]) => sendenseFiles(['files', 'ntvm', '--db', db, '--no-session', ...args]);

interface ListedLine {
  readonly name: string;
  readonly reader?: string;
  readonly [field: string]: unknown;
}

const facts = (stdout: string) => jsonLines<ListedLine>(stdout).map(({ reader: _reader, ...entry }) => entry);

// Which reader the fast path uses for each partition of the disk.
const LISTED: readonly [string, string][] = [
  ['p1:/', 'debugfs'],
  ['p1:/sub', 'debugfs'],
  ['p2:/', 'ntfs-3g'],
  ['p2:/données', 'ntfs-3g'],
  ['p2:/dir with space', 'ntfs-3g'],
  ['p2:/sub', 'ntfs-3g'],
  ['p2:/a.txt', 'ntfs-3g'],
  ['p2:/link.txt', 'ntfs-3g'],
  ['p3:/', 'fat-walker'],
  ['p3:/sub', 'fat-walker'],
  ['p3:/données', 'fat-walker'],
  ['p3:/dir with space', 'fat-walker'],
  ['p3:/a.txt', 'fat-walker'],
  ['p3:/README.TXT', 'fat-walker'],
  ['p3:/sub/read only.txt', 'fat-walker'],
  ['p4:/', 'fat-walker'],
  ['p4:/sub', 'fat-walker'],
  ['p4:/données', 'fat-walker'],
  ['p5:/', 'fat-walker'],
  ['p5:/sub', 'fat-walker'],
];

describe('ext4, NTFS and FAT on one GPT disk', () => {
  it(
    'lists each partition the fast path reads with no appliance, and exactly what the appliance lists',
    async () => {
      for (const [where, reader] of LISTED) {
        const fast = await files('--json', where);
        expect(fast.exitCode, `${where}: ${fast.stderr}`).toBe(0);
        const lines = jsonLines<ListedLine>(fast.stdout);
        expect(lines.length, where).toBeGreaterThan(0);
        expect(new Set(lines.map((line) => line.reader)), where).toEqual(new Set([reader]));
        if (reader !== 'appliance') expect(fast.stderr, where).not.toMatch(/libguestfs|appliance started|opening /);

        const slow = await shared.files(['ntvm', '--json', where]);
        expect(slow.exitCode, slow.stderr).toBe(0);
        expect(facts(fast.stdout), where).toEqual(facts(slow.stdout));
      }
      // The NTFS root holds the whole awkward tree (the metadata files are hidden, as ntfs-3g hides them).
      const names = facts((await files('--json', 'p2:/')).stdout).map((entry) => [entry.name, entry.type]);
      expect(names).toEqual([
        ['-dash', 'file'],
        ['a.txt', 'file'],
        ['deep link', 'symlink'],
        ['dir with space', 'directory'],
        ['données', 'directory'],
        ['hard link.txt', 'file'],
        ['link.txt', 'symlink'],
        ['odd \'quote" back\\slash', 'file'],
        ['sparse.bin', 'file'],
        ['sub', 'directory'],
        ['tab\tname', 'file'],
        ['☕ emoji.txt', 'file'],
      ]);
    },
    BOOT,
  );

  it(
    'extracts NTFS files, a sparse file and a symlink with no appliance, as the appliance extracts them',
    async () => {
      const wanted = ['p2:/a.txt', 'p2:/hard link.txt', 'p2:/sparse.bin', 'p2:/données/été.txt', 'p2:/link.txt'];
      const fastTo = path.join(ws.dir, 'got-fast');
      const fast = await files('--json', '--get', ...wanted, '--to', fastTo);
      expect(fast.exitCode, fast.stderr).toBe(0);
      expect(fast.stderr).toMatch(/read by ntfs-3g \(NTFS\) in user space/);
      expect(fast.stderr).not.toMatch(/libguestfs|appliance started|opening /);
      const slowTo = path.join(ws.dir, 'got-slow');
      const slow = await shared.files(['ntvm', '--get', ...wanted, '--to', slowTo]);
      expect(slow.exitCode, slow.stderr).toBe(0);
      // Content, sizes, modes, owners, times and the symlink's target, both ways (a folder the
      // extraction made has the time it was made).
      const made = (to: string) =>
        Object.fromEntries(
          Object.entries(readTree(to)).map(([name, entry]) => [
            name,
            entry.type === 'directory' ? { ...entry, mtime: 0 } : entry,
          ]),
        );
      expect(made(fastTo)).toEqual(made(slowTo));
      const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
      expect(sha(path.join(fastTo, 'sparse.bin'))).toBe(sha(path.join(root, 'sparse.bin')));
      expect(sha(path.join(fastTo, 'données/été.txt'))).toBe(sha(path.join(root, 'données/été.txt')));
      // The 6 MiB of mostly zeros stay a hole.
      expect(statSync(path.join(fastTo, 'sparse.bin')).blocks * 512).toBeLessThan(1024 * 1024);
    },
    BOOT,
  );

  it(
    'extracts FAT files with no appliance, byte for byte and with the times and modes the appliance gives',
    async () => {
      const wanted = ['p3:/a.txt', 'p3:/README.TXT', 'p3:/données/été.txt', 'p3:/sub/big.bin', 'p3:/sub/read only.txt'];
      const fastTo = path.join(ws.dir, 'got-fast-fat');
      const fast = await files('--json', '--get', ...wanted, '--to', fastTo);
      expect(fast.exitCode, fast.stderr).toBe(0);
      expect(fast.stderr).toMatch(/read by fat-walker \(FAT\) in user space/);
      expect(fast.stderr).not.toMatch(/libguestfs|appliance started|opening /);
      const slowTo = path.join(ws.dir, 'got-slow-fat');
      const slow = await shared.files(['ntvm', '--get', ...wanted, '--to', slowTo]);
      expect(slow.exitCode, slow.stderr).toBe(0);
      const made = (to: string) =>
        Object.fromEntries(
          Object.entries(readTree(to)).map(([name, entry]) => [
            name,
            entry.type === 'directory' ? { ...entry, mtime: 0 } : entry,
          ]),
        );
      expect(made(fastTo)).toEqual(made(slowTo));
      const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
      expect(sha(path.join(fastTo, 'sub/big.bin'))).toBe(sha(path.join(root, 'sub/big.bin')));
      expect(sha(path.join(fastTo, 'données/été.txt'))).toBe(sha(path.join(root, 'données/été.txt')));
    },
    BOOT,
  );

  it(
    "a drill's files check finds paths in ext4, NTFS and FAT by the fast path's readers, booting nothing",
    async () => {
      // The point's one disk file in the repository, as a drill's run state names it.
      const [file] = execFileSync('find', [ws.repository, '-name', '*.qcow2'], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line !== '');
      const run = { state: { disks: [{ key: 2000, file }] } } as unknown as Pick<DrillRun, 'state' | 'node'>;
      const exists = ['p1:/sub/f00.txt', 'p2:/données/été.txt', 'p3:/sub/read only.txt', 'p5:/données', '/README.TXT'];
      const said = await filesCheck(run, { type: 'files', timeout: 120, exists });
      expect(said).toContain('p2:/données/été.txt (disk 2000)');
      expect(said).toContain('p3:/sub/read only.txt (disk 2000)');
      expect(said).toContain('p3:/README.TXT (disk 2000)');
      await expect(filesCheck(run, { type: 'files', timeout: 120, exists: ['/nowhere.txt'] })).rejects.toThrow(
        'not in the point: /nowhere.txt (filesystems looked in: p1 of disk 2000 (debugfs), p2 of disk 2000 (ntfs-3g), p3 of disk 2000 (fat-walker), p4 of disk 2000 (fat-walker), p5 of disk 2000 (fat-walker))',
      );
    },
    BOOT,
  );

  it(
    'lists an NTFS directory over the API by ntfs-3g, no appliance, reader said',
    async () => {
      const token = await addApiToken(db, 'restorer', 'restore');
      const server = await startApiServer({ db, plans: [] });
      try {
        const backups = await listBackups(db, 'ntvm');
        const answer = await server.request(
          'GET',
          `/api/v1/backups/${backups[0]!.id}/files?path=${encodeURIComponent('p2:/données')}`,
          { token },
        );
        expect(answer.status, answer.text).toBe(200);
        const listing = answer.json<{ reader: string; entries: { name: string }[] }>();
        expect(listing.reader).toBe('ntfs-3g');
        expect(listing.entries.map((entry) => entry.name)).toEqual(['été.txt']);
      } finally {
        await server.stop();
      }
    },
    BOOT,
  );

  it(
    'keeps the appliance for --appliance on NTFS',
    async () => {
      const result = await files('--json', '--appliance', 'p2:/données');
      expect(result.exitCode, result.stderr).toBe(0);
      expect(jsonLines<ListedLine>(result.stdout).map((line) => [line.name, line.reader])).toEqual([
        ['été.txt', 'appliance'],
      ]);
    },
    BOOT,
  );
});

// Damage an NTFS image as a hostile guest could: each case a clear error or a listing, never a
// hang (each tool run is bounded) nor anything but a SendenseError.
describe('a crafted NTFS', () => {
  let clean = '';
  let readerUser: Awaited<ReturnType<typeof pickReaderUser>>;
  beforeAll(async () => {
    readerUser = await pickReaderUser();
    const scratch = path.join(ws.dir, 'crafted');
    mkdirSync(scratch, { recursive: true });
    const tree = path.join(scratch, 'tree');
    mkdirSync(tree);
    writeAwkwardTree(tree);
    clean = ntfsImage(tree, scratch);
  }, 120_000);

  // The MFT's place (boot sector: cluster size, MFT cluster), and a file record's offset in it.
  const mftOffset = (image: string) => {
    const boot = Buffer.alloc(512);
    const fd = openSync(image, 'r');
    readSync(fd, boot, 0, 512, 0);
    closeSync(fd);
    const cluster = boot.readUInt16LE(11) * boot.readUInt8(13);
    return Number(boot.readBigUInt64LE(48)) * cluster;
  };

  const crafted = (name: string, damage: (fd: number, mft: number) => void) => {
    const image = path.join(ws.dir, 'crafted', `${name}.img`);
    copyFileSync(clean, image);
    const fd = openSync(image, 'r+');
    damage(fd, mftOffset(image));
    closeSync(fd);
    execFileSync('chmod', ['a+r', image]);
    execFileSync('chmod', ['a+x', ws.dir, path.join(ws.dir, 'crafted')]);
    return image;
  };

  const CASES: readonly [string, (fd: number, mft: number) => void][] = [
    // The $MFT's own record: its signature and update sequence flipped.
    ['flipped bytes in the MFT record of $MFT', (fd, mft) => writeSync(fd, Buffer.from('XXXX\xff\xff'), 0, 6, mft)],
    // The root directory's record (5) garbled from its attributes on.
    [
      'a garbled root directory record',
      (fd, mft) => writeSync(fd, Buffer.alloc(512, 0xa5), 0, 512, mft + 5 * 1024 + 64),
    ],
  ];

  for (const [what, damage] of CASES) {
    it(`says ${what} in one line: could not be read by ntfs-3g`, async () => {
      const image = crafted(what.replaceAll(' ', '-'), damage);
      const reader = new NtfsReader(image, 'p2 of a crafted disk', () => ({ user: readerUser }), statSync(image).size);
      await expect(reader.list('/')).rejects.toThrow(/^p2 of a crafted disk could not be read by ntfs-3g: .+/);
    }, 120_000);
  }

  // A snapshot of a running Windows: $Volume's flags say "dirty" (in the MFT and its mirror).
  it('lists a volume marked dirty, as the appliance mounts it', async () => {
    const image = crafted('dirty', (fd, mft) => {
      const boot = Buffer.alloc(512);
      readSync(fd, boot, 0, 512, 0);
      const mirror = Number(boot.readBigUInt64LE(56)) * boot.readUInt16LE(11) * boot.readUInt8(13);
      const record = Buffer.alloc(1024);
      readSync(fd, record, 0, 1024, mft + 3 * 1024);
      for (
        let at = record.readUInt16LE(20);
        record.readUInt32LE(at) !== 0xffffffff;
        at += record.readUInt32LE(at + 4)
      ) {
        if (record.readUInt32LE(at) !== 0x70) continue;
        const flags = at + record.readUInt16LE(at + 20) + 10;
        for (const base of [mft, mirror])
          writeSync(fd, Buffer.from([record[flags] | 1]), 0, 1, base + 3 * 1024 + flags);
        return;
      }
      throw new Error('no $VOLUME_INFORMATION in record 3');
    });
    const reader = new NtfsReader(image, 'p2 of a dirty disk', () => ({ user: readerUser }), statSync(image).size);
    expect((await reader.list('/données')).map((entry) => entry.name)).toEqual(['été.txt']);
  }, 120_000);

  it('lists a file that claims a huge size as its record says, and leaves its endless zeros unread', async () => {
    const image = crafted('huge-size', () => {});
    // The $DATA of sparse.bin claims 2^62 bytes: the listing says what the MFT says, no more.
    const fd = openSync(image, 'r+');
    const mft = mftOffset(image);
    const record = Buffer.alloc(1024);
    let patched = false;
    for (let inode = 16; inode < 200 && !patched; inode++) {
      readSync(fd, record, 0, 1024, mft + inode * 1024);
      if (!record.includes(Buffer.from('sparse.bin', 'utf16le'))) continue;
      // The non-resident $DATA (type 0x80): data size at +48 of the attribute.
      for (let at = record.readUInt16LE(20); at < 1000 && record.readUInt32LE(at) !== 0xffffffff;) {
        const length = record.readUInt32LE(at + 4);
        if (record.readUInt32LE(at) === 0x80 && record.readUInt8(at + 8) === 1) {
          writeSync(fd, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x40]), 0, 8, mft + inode * 1024 + at + 48);
          patched = true;
          break;
        }
        if (length === 0) break;
        at += length;
      }
    }
    closeSync(fd);
    expect(patched).toBe(true);
    const reader = new NtfsReader(image, 'p2 of a crafted disk', () => ({ user: readerUser }), statSync(image).size);
    const listed = await reader.list('/').then(
      (entries) => entries.find((entry) => entry.name === 'sparse.bin')?.size,
      (error: Error) => error.message,
    );
    // The listing says what the record says; its bytes (zeros past the 6 MiB written, for ever) are
    // not streamed: a size past the partition is the appliance's to read.
    expect(listed).toBe(2 ** 62);
    let read = 0;
    const reading = reader.fileBytes('/sparse.bin', async (bytes) => {
      for await (const chunk of bytes) {
        read += chunk.length;
        if (read > 64 * 1024 * 1024) throw new Error('read past the 6 MiB the file holds');
      }
      return read;
    });
    await expect(reading).rejects.toBeInstanceOf(NotForFastPath);
    expect(read).toBe(0);
  }, 120_000);
});

// A FAT damaged as a hostile guest could: a clear error or a listing within bounds, never a hang.
describe('a crafted FAT', () => {
  let readerUser: Awaited<ReturnType<typeof pickReaderUser>>;
  let scratch = '';
  let tree = '';
  beforeAll(async () => {
    readerUser = await pickReaderUser();
    scratch = path.join(ws.dir, 'crafted-fat');
    mkdirSync(scratch, { recursive: true });
    tree = path.join(scratch, 'tree');
    mkdirSync(tree);
    writeAwkwardTree(tree);
    execFileSync('chmod', ['a+x', ws.dir, scratch]);
  }, 120_000);

  const readerOf = (image: string, what: string) => {
    execFileSync('chmod', ['a+r', image]);
    return new FatReader(image, 0, what, () => ({ user: readerUser }), statSync(image).size);
  };

  // The FAT32 geometry mkfs.vfat wrote, and the 32-byte entry of an 8.3 name in a folder.
  const geometry = (fd: number) => {
    const boot = Buffer.alloc(512);
    readSync(fd, boot, 0, 512, 0);
    const sector = boot.readUInt16LE(11);
    const fatOffset = boot.readUInt16LE(14) * sector;
    const dataOffset = fatOffset + boot.readUInt8(16) * boot.readUInt32LE(36) * sector;
    const cluster = sector * boot.readUInt8(13);
    return { fatOffset, cluster, at: (c: number) => dataOffset + (c - 2) * cluster, root: boot.readUInt32LE(44) };
  };
  const entryOf = (fd: number, folderCluster: number, short: string) => {
    const g = geometry(fd);
    const bytes = Buffer.alloc(g.cluster);
    for (let cluster = folderCluster; cluster < 0x0ffffff8;) {
      readSync(fd, bytes, 0, g.cluster, g.at(cluster));
      for (let at = 0; at < bytes.length; at += 32)
        if (bytes.toString('latin1', at, at + 11) === short)
          return {
            offset: g.at(cluster) + at,
            cluster: (bytes.readUInt16LE(at + 20) << 16) | bytes.readUInt16LE(at + 26),
          };
      const next = Buffer.alloc(4);
      readSync(fd, next, 0, 4, g.fatOffset + cluster * 4);
      cluster = next.readUInt32LE(0) & 0x0fffffff;
    }
    throw new Error(`no ${short}`);
  };
  const crafted = (name: string, damage: (fd: number) => void) => {
    const image = fatImage(tree, path.join(scratch), 32);
    const copy = path.join(scratch, `${name}.img`);
    copyFileSync(image, copy);
    const fd = openSync(copy, 'r+');
    damage(fd);
    closeSync(fd);
    return readerOf(copy, 'p3 of a crafted disk');
  };
  const sub = (fd: number) => entryOf(fd, geometry(fd).root, 'SUB        ');

  it('says a folder whose cluster chain loops in one line, and does not hang', async () => {
    const reader = crafted('fat-loop', (fd) => {
      const { cluster } = sub(fd);
      const link = Buffer.alloc(4);
      link.writeUInt32LE(cluster);
      writeSync(fd, link, 0, 4, geometry(fd).fatOffset + cluster * 4);
    });
    await expect(reader.list('/sub')).rejects.toThrow(
      /^p3 of a crafted disk could not be read as FAT: a cluster chain that loops at cluster \d+$/,
    );
  }, 120_000);

  it('lists a folder that holds itself as what it holds, within bounds', async () => {
    const reader = crafted('fat-self', (fd) => {
      const { cluster } = sub(fd);
      // sub/f00.txt becomes a folder whose first cluster is sub's own.
      const { offset } = entryOf(fd, cluster, 'F00     TXT');
      const entry = Buffer.alloc(32);
      readSync(fd, entry, 0, 32, offset);
      entry[11] = 0x10;
      entry.writeUInt16LE(cluster >> 16, 20);
      entry.writeUInt16LE(cluster & 0xffff, 26);
      entry.writeUInt32LE(0, 28);
      writeSync(fd, entry, 0, 32, offset);
    });
    const names = (await reader.list('/sub')).map((entry) => entry.name);
    expect(names).toContain('f00.txt');
    const deep = '/sub' + '/f00.txt'.repeat(30);
    expect((await reader.list(deep)).map((entry) => entry.name)).toEqual(names);
  }, 120_000);

  // As root the walker starts as root, so node and the walker load from a folder only root may
  // enter (a clone in a `mktemp -d`, a Node.js under /root), and opens the disk as the point's uid:
  // a disk only root may read is refused to it, one that uid may read is listed.
  it.runIf(process.getuid?.() === 0)(
    "runs from a folder only root may enter, and reads the disk as the point's uid, not root",
    async () => {
      const hidden = path.join(scratch, 'root-only');
      mkdirSync(hidden, { mode: 0o700 });
      const runtime = { node: path.join(hidden, 'node'), script: path.join(hidden, 'cli', 'fat-walker.js') };
      copyFileSync(process.execPath, runtime.node);
      cpSync(path.join(findPackageRoot(), 'dist', 'cli'), path.join(hidden, 'cli'), { recursive: true });
      chmodSync(runtime.node, 0o700);
      const image = path.join(scratch, 'fat16-root-only.img');
      copyFileSync(fatImage(tree, scratch, 16), image);
      chmodSync(image, 0o644);
      const what = 'p4 of a disk';
      const reader = new FatReader(
        image,
        0,
        what,
        () => ({ user: readerUser }),
        statSync(image).size,
        () => runtime,
      );
      expect((await reader.list('/')).map((entry) => entry.name)).toContain('sub');
      chmodSync(image, 0o600);
      await expect(reader.list('/')).rejects.toThrow(
        /^the FAT walker reading p4 of a disk: .*could not open the disk file: EACCES: permission denied/,
      );
      rmSync(hidden, { recursive: true });
    },
    120_000,
  );

  it('lists a file that claims 4 GiB as its entry says, and reads none of it', async () => {
    const reader = crafted('fat-huge', (fd) => {
      const { offset } = entryOf(fd, sub(fd).cluster, 'BIG     BIN');
      writeSync(fd, Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4, offset + 28);
    });
    const listed = await reader.list('/sub');
    expect(listed.find((entry) => entry.name === 'big.bin')?.size).toBe(2 ** 32 - 1);
    let read = 0;
    const reading = reader.fileBytes('/sub/big.bin', async (bytes) => {
      for await (const chunk of bytes) read += chunk.length;
      return read;
    });
    await expect(reading).rejects.toThrow(
      /^p3 of a crafted disk could not be read as FAT: .*a file of 4294967295 bytes whose chain holds fewer/,
    );
    expect(read).toBe(0);
  }, 120_000);
});
