// `sendense-run files` on more kinds of filesystems, backed up with the real CLI: an MBR disk
// with vfat, NTFS and LVM (vg0/root), a second disk that is one XFS filesystem ('disk'), a
// third whose only partition holds no filesystem, and a fourth that is one btrfs filesystem with
// a subvolume ('disk', 'disk@home'). The XFS extraction runs the CLI; the rest the same command
// code on one shared appliance per disk (./shared-appliance.ts), which reports a refusal as the
// CLI does (one line, its exit code).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, writePlan } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { jsonLines, repositoryFingerprint, sendenseFiles } from './guest-disk.js';
import { sharedFiles } from './shared-appliance.js';
import { makeMbrAndBtrfsDisks, makeWholeDiskXfs, type Contents } from './mixed-disks.js';

const ws = useRunWorkspace('files-more-fs-', { per: 'file' });
let db = '';
let contents: Contents = {};

beforeAll(async () => {
  const scratch = path.join(ws.dir, 'scratch');
  mkdirSync(scratch);
  const mbr = path.join(ws.dir, 'mbr.raw');
  const xfs = path.join(ws.dir, 'xfs.raw');
  const btrfs = path.join(ws.dir, 'btrfs.raw');
  contents = { ...(await makeMbrAndBtrfsDisks(mbr, btrfs, scratch)), ...makeWholeDiskXfs(xfs, scratch) };
  // A third disk with a partition table and no filesystem in its partition.
  const blank = path.join(ws.dir, 'blank.raw');
  execFileSync('truncate', ['-s', '16M', blank]);
  execFileSync('sgdisk', ['-n', '1:2048:0', '-t', '1:8300', blank], { stdio: 'ignore' });
  // A fifth that is raw zeros: no table, no filesystem.
  const zeros = path.join(ws.dir, 'zeros.raw');
  execFileSync('truncate', ['-s', '8M', zeros]);
  const disks = [2000, 2001, 2002, 2003, 2004].map((key, i) => {
    const source = path.join(ws.dir, `mixvm-${key}.qcow2`);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', [mbr, xfs, blank, btrfs, zeros][i], source]);
    return { key, path: source };
  });
  db = path.join(ws.dir, 'state.db');
  const plan = writePlan(ws.dir, {
    name: 'mixvm-backup',
    kind: 'backup',
    vm: 'mixvm',
    disks,
    repository: ws.repository,
    ports: portRangeForTestFile(10),
  });
  const result = await sendenseRun([plan, '--db', db]);
  if (result.exitCode !== 0) throw new Error(`backup failed:\n${result.stdout}\n${result.stderr}`);
}, 600_000);

const files = (...args: string[]) => sendenseFiles(['files', 'mixvm', '--db', db, ...args]);
const shared = sharedFiles(() => db);
const onShared = (...args: string[]) => shared.files(['mixvm', ...args]);
afterAll(() => shared.close());

interface FsLine {
  name: string;
  type: string;
  label: string;
  partitionTable: string;
}

// sha256 of every file under dir, by path relative to it.
function hashes(dir: string, names: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    names.map((name) => [
      name,
      createHash('sha256')
        .update(readFileSync(path.join(dir, name)))
        .digest('hex'),
    ]),
  );
}

describe('more filesystems', () => {
  it('lists vfat, NTFS and an LVM logical volume of an MBR disk by short name, type and label', async () => {
    const result = await onShared('--json');
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const found = jsonLines<FsLine>(result.stdout).filter((fs) => fs.type !== 'unknown');
    expect(found.map((fs) => [fs.name, fs.type, fs.label, fs.partitionTable])).toEqual([
      ['p1', 'vfat', 'BOOTFS', 'msdos'],
      ['p2', 'ntfs', 'winfs', 'msdos'],
      ['vg0/root', 'ext4', 'lvroot', 'msdos'],
    ]);
  }, 600_000);

  it('extracts files from vfat, NTFS and LVM in one command, content as written', async () => {
    const before = repositoryFingerprint(ws.repository);
    const to = path.join(ws.dir, 'from-mbr');
    const result = await onShared('--get', 'p1:/EFI', 'p2:/Rapport été.txt', 'vg0/root:/etc', '--to', to);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(hashes(to, ['EFI/boot.txt', 'Rapport été.txt', 'etc/fstab'])).toEqual({
      'EFI/boot.txt': contents['p1:/EFI/boot.txt'],
      'Rapport été.txt': contents['p2:/Rapport été.txt'],
      'etc/fstab': contents['vg0/root:/etc/fstab'],
    });
    expect(repositoryFingerprint(ws.repository)).toEqual(before);
  }, 600_000);

  it("extracts from a disk that is one XFS filesystem ('disk'), owners and modes kept", async () => {
    const to = path.join(ws.dir, 'from-xfs.tar');
    const result = await files('--disk', '2001', '--get', 'disk:/data', '--to', to);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const listing = execFileSync('tar', ['-t', '-v', '--numeric-owner', '-f', to], { encoding: 'utf8' });
    expect(listing).toMatch(/drwxr-x--- 1000\/1000 .* data\/\n/);
    expect(listing).toMatch(/-rw-r----- 1000\/1000 +1048576 .* data\/blob\.bin/);
    const out = path.join(ws.dir, 'xfs-out');
    mkdirSync(out);
    execFileSync('tar', ['-x', '-f', to, '-C', out]);
    expect(hashes(out, ['data/blob.bin', 'data/notes.txt'])).toEqual({
      'data/blob.bin': contents['disk:/data/blob.bin'],
      'data/notes.txt': contents['disk:/data/notes.txt'],
    });
  }, 600_000);

  it("lists a btrfs disk's top level and subvolume, and extracts from both in one command", async () => {
    const listed = await onShared('--disk', '2003', '--json');
    expect(listed.exitCode, `${listed.stdout}\n${listed.stderr}`).toBe(0);
    const found = jsonLines<FsLine>(listed.stdout).map((fs) => [fs.name, fs.type, fs.label]);
    expect(found).toEqual([
      ['disk', 'btrfs', 'homefs'],
      ['disk@home', 'btrfs', 'homefs'],
    ]);
    const to = path.join(ws.dir, 'from-btrfs');
    const result = await onShared('--disk', '2003', '--get', 'disk:/etc/hostname', 'disk@home:/alice', '--to', to);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    // Each keeps its path below its filesystem's root, as tar does.
    expect(hashes(to, ['etc/hostname', 'alice/notes.txt'])).toEqual({
      'etc/hostname': contents['disk:/etc/hostname'],
      'alice/notes.txt': contents['disk@home:/alice/notes.txt'],
    });
  }, 600_000);

  it('says in one line that a disk has no filesystem it can read', async () => {
    const result = await onShared('--disk', '2002');
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(1);
    const lines = result.stderr.split('\n').filter((line) => line.startsWith('sendense-run:'));
    expect(lines).toEqual([
      expect.stringMatching(
        /^sendense-run: VM mixvm, backup \S+, disk 2002 has no filesystem that can be read \(partition table: gpt\)$/,
      ),
    ]);
  }, 600_000);

  // blkid's probe of each partition (or of the whole disk) finds nothing: said before any appliance.
  for (const [disk, table] of [
    ['2002', 'gpt'],
    ['2004', 'none'],
  ] as const) {
    it(`says at once, with no appliance, that disk ${disk} (partition table ${table}) has no filesystem`, async () => {
      const result = await files('--no-session', '--disk', disk);
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(1);
      expect(result.stderr).not.toMatch(/starting the libguestfs appliance|opening /);
      expect(result.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          new RegExp(
            `^sendense-run: VM mixvm, backup \\S+, disk ${disk} has no filesystem that can be read \\(partition table: ${table}\\)$`,
          ),
        ),
      ]);
    }, 120_000);
  }
});
