// `sendense-run files` on a real GPT + ext4 disk backed up at two points (a full, then an
// incremental after files changed and were deleted): filesystems and directories listed, files
// and folders extracted into a directory, a .tar.gz and a .zip, each compared with what the
// test wrote at that point; refusals as one line; the repository never changed. A command starts
// a real libguestfs appliance (software emulation here): the extraction into a directory and the
// refusals run the CLI; the listings and other extractions run the same command code on one
// appliance per point (./shared-appliance.ts), as an appliance start costs 20-60 CPU-s here.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { sharedFiles } from './shared-appliance.js';
import {
  backUpGuest,
  jsonLines,
  readTree,
  repositoryFingerprint,
  sendenseFiles,
  subTree,
  withoutSetuid,
  type BackedUpGuest,
  type FilesResult,
} from './guest-disk.js';

const ws = useRunWorkspace('files-ext4-', { per: 'file' });
let guest: BackedUpGuest;
let before: Record<string, string>;
const BOOT = 600_000;

beforeAll(async () => {
  guest = await backUpGuest(ws.dir, 'fvm', portRangeForTestFile(10));
  before = repositoryFingerprint(guest.repository);
}, 600_000);

const shared = sharedFiles(() => guest.db);

afterAll(async () => {
  await shared.close();
  // Browsing and extracting never touched a repository file (content, time or mode).
  if (guest) expect(repositoryFingerprint(guest.repository)).toEqual(before);
});

const files = (...args: string[]) => sendenseFiles(['files', guest.vm, '--db', guest.db, ...args]);
// The same command on the file's shared appliances.
const onShared = (...args: string[]) => shared.files([guest.vm, ...args]);
const pointId = (point: number) => guest.backups[point - 1].id;

function expectOk(result: FilesResult): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
}

// One clear line on stderr, no stack trace.
function expectRefused(result: FilesResult, exitCode: number, message: RegExp): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(exitCode);
  const lines = result.stderr
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('sendense-run:'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

interface FsLine {
  name: string;
  type: string;
  label: string;
  size: number;
  partitionTable: string;
}

interface EntryLine {
  name: string;
  type: string;
  size: number;
  mode: string;
  uid: number;
  gid: number;
  mtime: string;
  target?: string;
}

describe('listing', () => {
  it(
    'lists the partitions and filesystems of the first point with short names, types, labels and sizes',
    async () => {
      const result = await onShared('--point', pointId(1), '--json');
      expectOk(result);
      const found = jsonLines<FsLine>(result.stdout);
      expect(found.map((fs) => [fs.name, fs.type])).toEqual([
        ['p1', 'ext4'],
        ['p2', 'unknown'],
      ]);
      expect(found[0]).toMatchObject({ label: 'guestroot', size: 40 * 1024 * 1024, partitionTable: 'gpt' });
    },
    BOOT,
  );

  it(
    'lists a directory at each point as the test wrote it: types, sizes, modes, owners, times, symlink targets',
    async () => {
      for (const point of [1, 2]) {
        const result = await onShared('--point', pointId(point), '--json', 'p1:/');
        expectOk(result);
        const entries = jsonLines<EntryLine>(result.stdout).filter((entry) => entry.name !== 'lost+found');
        const tree = guest.trees[point - 1];
        const top = Object.keys(tree)
          .filter((name) => !name.includes('/'))
          .sort();
        expect(
          entries.map((entry) => entry.name),
          `point ${point}`,
        ).toEqual(top);
        for (const entry of entries) {
          const wrote = tree[entry.name];
          expect(
            {
              type: entry.type,
              mode: Number.parseInt(entry.mode, 8),
              uid: entry.uid,
              gid: entry.gid,
              mtime: Date.parse(entry.mtime) / 1000,
            },
            `${entry.name} at point ${point}`,
          ).toEqual({
            type: wrote.type,
            mode: wrote.type === 'symlink' ? 0o777 : wrote.mode,
            uid: wrote.uid,
            gid: wrote.gid,
            mtime: wrote.mtime,
          });
          if (wrote.type === 'file') expect(entry.size).toBe(wrote.size);
          if (wrote.type === 'symlink') expect(entry.target).toBe(wrote.target);
        }
      }
    },
    2 * BOOT,
  );

  it(
    'shows a directory to people as ls would, names with spaces and non-ASCII intact (latest point)',
    async () => {
      const result = await onShared('p1:/données');
      expectOk(result);
      expect(result.stdout).toMatch(/-rw-r--r--\s+0:0\s+\d+\s+2021-05-06 07:09:52\s+été\.txt/);
    },
    BOOT,
  );
});

describe('extracting', () => {
  it(
    'extracts folders, a file and a symlink of point 1 into a new directory with content, modes (no setuid bit), owners and times kept',
    async () => {
      const to = path.join(ws.dir, 'restored-1');
      const result = await files(
        '--point',
        pointId(1),
        '--get',
        'p1:/etc',
        'p1:/données',
        'p1:/big.bin',
        'p1:/hosts-link',
        'p1:/bin',
        '--to',
        to,
      );
      expectOk(result);
      const tree = withoutSetuid(guest.trees[0]);
      const got = readTree(to);
      expect(got).toEqual({
        ...subTree(tree, 'etc'),
        ...subTree(tree, 'données'),
        ...subTree(tree, 'big.bin'),
        ...subTree(tree, 'hosts-link'),
        ...subTree(tree, 'bin'),
      });
    },
    BOOT,
  );

  it(
    'extracts files and folders of the latest point into a .tar.gz, as they were then',
    async () => {
      const tarGz = path.join(ws.dir, 'latest.tar.gz');
      const result = await onShared('--get', 'p1:/etc', 'p1:/new file.txt', 'p1:/dir with space', '--to', tarGz);
      expectOk(result);
      const unpacked = path.join(ws.dir, 'unpacked-tgz');
      mkdirSync(unpacked);
      execFileSync('tar', ['-x', '-z', '-f', tarGz, '-C', unpacked, '--same-owner', '-p', '--numeric-owner']);
      const tree = guest.trees[1];
      expect(readTree(unpacked)).toEqual({
        ...subTree(tree, 'etc'),
        ...subTree(tree, 'new file.txt'),
        ...subTree(tree, 'dir with space'),
      });
    },
    BOOT,
  );

  it(
    'extracts the whole filesystem of point 1 into a .zip: every file with its content, deleted ones included',
    async () => {
      const zip = path.join(ws.dir, 'point1.zip');
      const result = await onShared('--point', pointId(1), '--get', 'p1:/', '--to', zip);
      expectOk(result);
      const unpacked = path.join(ws.dir, 'unpacked-zip');
      mkdirSync(unpacked);
      execFileSync('unzip', ['-q', zip, '-d', unpacked]);
      const tree = withoutSetuid(guest.trees[0]);
      const got = readTree(path.join(unpacked, 'p1'));
      // zip keeps content, modes, file times and symlinks (not owners; unzip sets no symlink or folder times).
      const strip = (t: typeof tree) =>
        Object.fromEntries(
          Object.entries(t).map(([name, e]) => [
            name,
            {
              type: e.type,
              sha256: e.sha256,
              target: e.target,
              mode: e.mode,
              mtime: e.type === 'file' ? e.mtime : undefined,
            },
          ]),
        );
      expect(strip(got)).toEqual(strip(tree));
    },
    BOOT,
  );
});

describe('refusals', () => {
  it('refuses an unknown point, an unknown disk, a bad path and a used target in one line each, before starting an appliance', async () => {
    expectRefused(await files('--point', 'no-such-backup', 'p1:/'), 2, /there is no backup 'no-such-backup' of VM fvm/);
    expectRefused(
      await files('--point', '2000-01-01T00:00:00Z'),
      2,
      /no complete backup of VM fvm at or before 2000-01-01T00:00:00.000Z: the first is/,
    );
    expectRefused(await files('--disk', '2009'), 1, /has no disk 2009 \(it has 2000\)/);
    expectRefused(await sendenseFiles(['files', 'nosuchvm', '--db', guest.db]), 2, /no complete backup of VM nosuchvm/);
    expectRefused(await files('etc'), 2, /'etc' is not NAME:\/PATH/);
    expectRefused(await files('p1:etc'), 2, /must be absolute/);
    expectRefused(await files('--get', 'p1:/etc'), 2, /--get needs --to/);
    const used = path.join(ws.dir, 'used');
    mkdirSync(used);
    writeFileSync(path.join(used, 'keep.txt'), 'mine');
    expectRefused(await files('--get', 'p1:/etc', '--to', used), 1, /is not empty: .*--overwrite/);
    expect(readdirSync(used)).toEqual(['keep.txt']);
    const archive = path.join(ws.dir, 'exists.tar');
    writeFileSync(archive, 'mine');
    expectRefused(await files('--get', 'p1:/etc', '--to', archive), 1, /exists: .*--overwrite/);
  }, 180_000);

  it(
    'refuses an unknown filesystem name, naming those that exist',
    async () => {
      expectRefused(await onShared('p9:/'), 1, /has no filesystem 'p9' \(it has p1\)/);
    },
    BOOT,
  );

  it(
    'refuses a path that is not in the filesystem at that point (deleted at point 2)',
    async () => {
      expectRefused(
        await onShared('--get', 'p1:/to-delete.txt', '--to', path.join(ws.dir, 'never')),
        1,
        /p1:\/to-delete\.txt: No such file or directory/,
      );
      expect(readdirSync(ws.dir).filter((name) => name.startsWith('.never') || name === 'never')).toEqual([]);
    },
    BOOT,
  );
});
