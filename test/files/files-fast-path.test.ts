// The fast path of `sendense-run files VM NAME:/DIR` (docs/file-level-restore.md#the-fast-path): an
// ext4 partition of a real GPT disk (sgdisk, mkfs.ext4 -d; ./guest-disk.ts) backed up at two
// points is listed by debugfs with no appliance, and lists exactly as the appliance lists it (one
// appliance per point, shared by this file's comparisons: ./shared-appliance.ts). The partition
// without a filesystem and --appliance keep the appliance. A crafted ext4 superblock gives a
// clear error within the reader's bound.

import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ExtReader } from '../../src/files/fast/ext-reader.js';
import { pickReaderUser } from '../../src/files/fast/reader-user.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { sharedFiles } from './shared-appliance.js';
import {
  backUpGuest,
  jsonLines,
  makeGptExt4Disk,
  PART1_START,
  readTree,
  repositoryFingerprint,
  sendenseFiles,
  withoutSetuid,
  type BackedUpGuest,
} from './guest-disk.js';

const ws = useRunWorkspace('files-fast-', { per: 'file' });
let guest: BackedUpGuest;
let before: Record<string, string>;
const BOOT = 600_000;

beforeAll(async () => {
  guest = await backUpGuest(ws.dir, 'ffvm', portRangeForTestFile(10));
  before = repositoryFingerprint(guest.repository);
}, 600_000);

const shared = sharedFiles(() => guest.db);

afterAll(async () => {
  await shared.close();
  if (guest) expect(repositoryFingerprint(guest.repository)).toEqual(before);
});

const files = (...args: string[]) => sendenseFiles(['files', guest.vm, '--db', guest.db, '--no-session', ...args]);

interface ListedLine {
  readonly name: string;
  readonly reader?: string;
  readonly [field: string]: unknown;
}

// Every field an entry has, but which reader made it.
const facts = (stdout: string) => jsonLines<ListedLine>(stdout).map(({ reader: _reader, ...entry }) => entry);

const LISTED = ['p1:/', 'p1:/etc', 'p1:/données', 'p1:/dir with space', 'p1:/bin', 'p1:/etc/hosts', 'p1:/hosts-link'];

for (const point of [1, 2]) {
  it(
    `lists point ${point}'s ext4 directories by debugfs, with what the appliance lists`,
    async () => {
      const id = guest.backups[point - 1].id;
      for (const where of LISTED) {
        const fast = await files('--point', id, '--json', where);
        expect(fast.exitCode, fast.stderr).toBe(0);
        // No appliance started: debugfs listed it, and said so.
        expect(fast.stderr).not.toMatch(/libguestfs|appliance started|opening /);
        const lines = jsonLines<ListedLine>(fast.stdout);
        expect(lines.length).toBeGreaterThan(0);
        expect(new Set(lines.map((line) => line.reader))).toEqual(new Set(['debugfs']));

        const slow = await shared.files([guest.vm, '--point', id, '--json', where]);
        expect(slow.exitCode, slow.stderr).toBe(0);
        expect(facts(fast.stdout), where).toEqual(facts(slow.stdout));
      }
      const names = facts((await files('--point', id, '--json', 'p1:/')).stdout).map((entry) => entry.name);
      expect(names.includes('to-delete.txt')).toBe(point === 1);
      expect(names.includes('new file.txt')).toBe(point === 2);
    },
    BOOT,
  );
}

it(
  'keeps the appliance for --appliance, and says which reader listed',
  async () => {
    const result = await files('--json', '--appliance', 'p1:/etc');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(jsonLines<ListedLine>(result.stdout).map((line) => [line.name, line.reader])).toEqual([
      ['hosts', 'appliance'],
      ['secret.conf', 'appliance'],
    ]);
  },
  BOOT,
);

it(
  'extracts files and a symlink by debugfs, byte for byte what the guest wrote, with no appliance',
  async () => {
    for (const point of [1, 2]) {
      const to = path.join(ws.dir, `got-${point}`);
      const result = await files(
        '--point',
        guest.backups[point - 1].id,
        '--json',
        '--get',
        'p1:/big.bin',
        'p1:/etc/hosts',
        'p1:/données/été.txt',
        'p1:/hosts-link',
        'p1:/bin/run.sh',
        '--to',
        to,
      );
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/read by debugfs/);
      expect(result.stderr).not.toMatch(/libguestfs|appliance started|opening /);
      const tree = guest.trees[point - 1];
      // Content (sha256), size, mode (setuid cleared), owner and time as written into the ext4.
      expect(readTree(to)).toEqual(
        withoutSetuid({
          'big.bin': tree['big.bin'],
          etc: { ...tree.etc, mode: 0o700, mtime: expect.any(Number) as number },
          'etc/hosts': tree['etc/hosts'],
          données: { ...tree.données, mode: 0o700, mtime: expect.any(Number) as number },
          'données/été.txt': tree['données/été.txt'],
          'hosts-link': tree['hosts-link'],
          bin: { ...tree.bin, mode: 0o700, mtime: expect.any(Number) as number },
          'bin/run.sh': tree['bin/run.sh'],
        }),
      );
    }
  },
  BOOT,
);

it(
  'leaves a folder to extract to the appliance, with the same result',
  async () => {
    const to = path.join(ws.dir, 'got-folder.tar');
    const result = await files('--get', 'p1:/etc', 'p1:/big.bin', '--to', to);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/read by debugfs/);
    const listed = execFileSync('tar', ['-tf', to], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    expect(listed).toEqual(['big.bin', 'etc/', 'etc/hosts', 'etc/secret.conf']);
  },
  BOOT,
);

it('says a missing path in one line, as the appliance does', async () => {
  const result = await files('p1:/no/such');
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toMatch(/sendense-run: .*p1 of VM ffvm.*\/no: No such file or directory/);
  expect(result.stderr).not.toMatch(/\n\s+at /);
});

// Flipped superblock fields that debugfs refuses: each one clear line, in the reader's bound.
const CRAFTED: readonly [string, number, Buffer][] = [
  ['a block size of 2^(10+255)', 24, Buffer.from([0xff, 0, 0, 0])],
  ['no inodes', 0, Buffer.alloc(4)],
  ['no blocks per group', 32, Buffer.alloc(4)],
  ['a first data block past the end', 20, Buffer.from([0xff, 0xff, 0xff, 0x7f])],
];

for (const [what, at, bytes] of CRAFTED) {
  it(`refuses an ext4 superblock with ${what}: one clear error, never a hang`, async () => {
    const raw = path.join(ws.dir, `crafted-${at}.raw`);
    const root = path.join(ws.dir, 'tree1');
    makeGptExt4Disk(raw, root);
    const fd = openSync(raw, 'r+');
    writeSync(fd, bytes, 0, bytes.length, PART1_START * 512 + 1024 + at);
    closeSync(fd);
    execFileSync('chmod', ['a+r', raw]);
    execFileSync('chmod', ['a+x', ws.dir]);
    const user = await pickReaderUser();
    const reader = new ExtReader(raw, PART1_START * 512, 'p1 of a crafted disk', () => ({ user }));
    await expect(reader.list('/')).rejects.toThrow(/^p1 of a crafted disk could not be read by debugfs: .+/);
  });
}
