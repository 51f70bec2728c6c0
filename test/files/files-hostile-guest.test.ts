// `sendense-run files` on a guest filesystem a hostile guest could have made (real mkfs.ext4,
// backed up with the real CLI, read through a real libguestfs appliance, extracted as root):
// device nodes and a FIFO are never recreated on the host, setuid/setgid bits are dropped unless
// --keep-setuid, a 32 MiB sparse file stays sparse in a directory and in a tar, and names that are
// not UTF-8 or hold a newline list correctly. One backup; the extraction into a directory runs
// the CLI, the tars and listings the same command code on one shared appliance (./shared-appliance.ts).

import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  ftruncateSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { BIN, listBackups, writePlan } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { sharedFiles } from './shared-appliance.js';
import { jsonLines, makeGptExt4Disk, repositoryFingerprint, sendenseFiles, type FilesResult } from './guest-disk.js';

const ws = useRunWorkspace('files-hostile-', { per: 'file' });
const VM = 'hvm';
// Big enough that a copy of its zeros would show (32 MiB against the 1 MiB and 16 MiB the checks
// allow; the audit's was 2 GiB); small, as the appliance streams the zeros under emulation: at
// 256 MiB an appliance cost ~60 CPU-s here with the cores full.
const SPARSE_SIZE = 32 * 1024 * 1024;
const BOOT = 600_000;
const LATIN1_NAME = Buffer.from('caf\xe9.txt', 'latin1'); // not UTF-8
const NEWLINE_NAME = 'line\nbreak.txt';
const SPARSE_TAIL = 'the end\n';
let db: string;
let repository: string;
let before: Record<string, string>;

// The guest's /data: a sparse file, and in /data/special devices, a FIFO, setuid and setgid
// files and odd names (apart, so that the folder with them can be read without its zeros).
function writeHostileTree(root: string): void {
  mkdirSync(path.join(root, 'data'), { mode: 0o755 });
  const data = path.join(root, 'data', 'special');
  mkdirSync(data, { mode: 0o755 });
  execFileSync('mknod', ['-m', '666', path.join(data, 'disk0'), 'b', '254', '0']);
  execFileSync('mknod', ['-m', '620', path.join(data, 'tty0'), 'c', '4', '1']);
  execFileSync('mkfifo', ['-m', '644', path.join(data, 'pipe')]);
  writeFileSync(path.join(data, 'su-root'), '#!/bin/sh\nid\n');
  chownSync(path.join(data, 'su-root'), 0, 0);
  chmodSync(path.join(data, 'su-root'), 0o4755);
  writeFileSync(path.join(data, 'sg-group'), '#!/bin/sh\nid -g\n');
  chownSync(path.join(data, 'sg-group'), 0, 50);
  chmodSync(path.join(data, 'sg-group'), 0o2755);
  const sparse = openSync(path.join(root, 'data', 'sparse.bin'), 'w');
  writeSync(sparse, 'start\n', 0);
  ftruncateSync(sparse, SPARSE_SIZE);
  writeSync(sparse, SPARSE_TAIL, SPARSE_SIZE - SPARSE_TAIL.length);
  closeSync(sparse);
  writeFileSync(Buffer.concat([Buffer.from(`${data}/`), LATIN1_NAME]), 'latin-1 name\n', { mode: 0o640 });
  writeFileSync(path.join(data, NEWLINE_NAME), 'newline name\n', { mode: 0o600 });
  writeFileSync(path.join(data, 'plain.txt'), 'plain\n', { mode: 0o644 });
}

beforeAll(async () => {
  db = path.join(ws.dir, 'state.db');
  repository = path.join(ws.dir, 'repository');
  const root = path.join(ws.dir, 'tree');
  mkdirSync(root);
  writeHostileTree(root);
  const raw = path.join(ws.dir, 'guest.raw');
  makeGptExt4Disk(raw, root);
  // The test's own device nodes go now: afterwards none may exist anywhere under ws.dir.
  rmSync(root, { recursive: true, force: true });
  const source = path.join(ws.dir, `${VM}-2000.qcow2`);
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, source]);
  rmSync(raw);
  const plan = writePlan(ws.dir, {
    name: `${VM}-backup`,
    kind: 'backup',
    vm: VM,
    disks: [{ key: 2000, path: source }],
    repository,
    ports: portRangeForTestFile(10),
  });
  const result = await execa(process.execPath, [BIN, plan, '--db', db], { reject: false, env: { CI: '1' } });
  if (result.exitCode !== 0) throw new Error(`backup failed:\n${result.stdout}\n${result.stderr}`);
  expect((await listBackups(db, VM)).map((backup) => backup.status)).toEqual(['complete']);
  before = repositoryFingerprint(repository);
}, 600_000);

const shared = sharedFiles(() => db);

afterAll(async () => {
  await shared.close();
  if (before) expect(repositoryFingerprint(repository)).toEqual(before);
});

const files = (...args: string[]) => sendenseFiles(['files', VM, '--db', db, ...args]);
const onShared = (...args: string[]) => shared.files([VM, ...args]);

function expectOk(result: FilesResult): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
}

// `find DIR -type b -o -type c -o -type p -o -perm /6000`: what must never be on the host.
function dangerous(dir: string): string[] {
  return execFileSync(
    'find',
    [dir, '(', '-type', 'b', '-o', '-type', 'c', '-o', '-type', 'p', '-o', '-perm', '/6000', ')', '-print'],
    { encoding: 'utf8' },
  )
    .split('\n')
    .filter(Boolean);
}

// What ws.dir holds besides the target (names only): extraction leaves nothing beside it. The
// state database's WAL files are there while the shared appliance's store has it open.
function besideTargets(): string[] {
  return readdirSync(ws.dir)
    .filter(
      (name) => !name.startsWith('out-') && name !== `${path.basename(db)}-wal` && name !== `${path.basename(db)}-shm`,
    )
    .sort();
}

// Lines of `tar -tv`: mode string and name, e.g. ['-rwxr-xr-x', 'data/su-root'].
function tarListing(tar: string): string[][] {
  return execFileSync('tar', ['-t', '-v', '--numeric-owner', '--quoting-style=escape', '-f', tar], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(/\s+/);
      return [fields[0], fields.slice(5).join(' ')];
    });
}

describe('extracting a hostile guest folder as root', () => {
  it(
    'into a directory: no device node, FIFO or setuid/setgid bit on the host, the sparse file stays sparse',
    async () => {
      const around = besideTargets();
      const to = path.join(ws.dir, 'out-dir');
      const result = await files('--get', 'p1:/data', '--to', to);
      expectOk(result);
      expect(dangerous(ws.dir)).toEqual([]);
      for (const skipped of ['disk0', 'tty0', 'pipe'])
        expect(result.stderr).toMatch(new RegExp(`p1:/data/special/${skipped}: .*skipped`));
      const data = path.join(to, 'data', 'special');
      expect(lstatSync(path.join(data, 'su-root'))).toMatchObject({ mode: 0o100755, uid: 0, gid: 0 });
      expect(lstatSync(path.join(data, 'sg-group'))).toMatchObject({ mode: 0o100755, uid: 0, gid: 50 });
      const sparse = statSync(path.join(to, 'data', 'sparse.bin'));
      expect(sparse.size).toBe(SPARSE_SIZE);
      expect(sparse.blocks * 512).toBeLessThan(1024 * 1024);
      const tail = Buffer.alloc(SPARSE_TAIL.length);
      const fd = openSync(path.join(to, 'data', 'sparse.bin'), 'r');
      readSync(fd, tail, 0, tail.length, SPARSE_SIZE - SPARSE_TAIL.length);
      closeSync(fd);
      expect(tail.toString()).toBe(SPARSE_TAIL);
      const names = readdirSync(data, { encoding: 'buffer' });
      expect(names.some((name) => name.equals(LATIN1_NAME))).toBe(true);
      expect(readFileSync(path.join(data, NEWLINE_NAME), 'utf8')).toBe('newline name\n');
      expect(readFileSync(path.join(data, 'plain.txt'), 'utf8')).toBe('plain\n');
      expect(besideTargets()).toEqual(around);
    },
    BOOT,
  );

  it(
    'into a .tar: no device node or FIFO, no setuid/setgid bit, and the sparse file stored sparse',
    async () => {
      const around = besideTargets();
      const tar = path.join(ws.dir, 'out-default.tar');
      const result = await onShared('--get', 'p1:/data', '--to', tar);
      expectOk(result);
      expect(statSync(tar).size).toBeLessThan(16 * 1024 * 1024);
      const listing = tarListing(tar);
      expect(listing.filter(([mode]) => /^[bcp]|^...[sS]|^......[sS]/.test(mode))).toEqual([]);
      expect(listing).toContainEqual(['-rwxr-xr-x', 'data/special/su-root']);
      expect(listing).toContainEqual(['-rwxr-xr-x', 'data/special/sg-group']);
      expect(listing).toContainEqual(['-rw-r--r--', 'data/sparse.bin']);
      expect(besideTargets()).toEqual(around);
    },
    BOOT,
  );

  it(
    'with --keep-setuid into a .tar: the setuid and setgid bits are kept, devices still are not',
    async () => {
      const tar = path.join(ws.dir, 'out-keep.tar');
      const result = await onShared('--get', 'p1:/data/special', '--to', tar, '--keep-setuid');
      expectOk(result);
      const listing = tarListing(tar);
      expect(listing).toContainEqual(['-rwsr-xr-x', 'data/special/su-root']);
      expect(listing).toContainEqual(['-rwxr-sr-x', 'data/special/sg-group']);
      expect(listing.filter(([mode]) => /^[bcp]/.test(mode))).toEqual([]);
      expect(dangerous(ws.dir).filter((found) => !found.startsWith(path.join(ws.dir, 'out-')))).toEqual([]);
    },
    BOOT,
  );
});

interface EntryLine {
  name: string;
  nameBytes?: string;
  type: string;
  size: number;
  mode: string;
  uid: number;
  mtime: string;
}

describe('listing names a hostile guest chose', () => {
  it(
    'lists every entry on one line each, a name with a newline or not in UTF-8 escaped, with its real mode and size',
    async () => {
      const result = await onShared('p1:/data/special');
      expectOk(result);
      const lines = result.stdout.trim().split('\n');
      // A header, the column titles, then one line for each of the 8 entries.
      expect(lines).toHaveLength(2 + 8);
      expect(lines.find((line) => line.endsWith('caf\\xe9.txt'))).toMatch(/^-rw-r-----\s+0:0\s+13\s+20\d\d-/);
      expect(lines.find((line) => line.endsWith('line\\nbreak.txt'))).toMatch(/^-rw-------\s+0:0\s+13\s+20\d\d-/);
      expect(lines.find((line) => line.endsWith(' disk0'))).toMatch(/^brw-rw-rw-/);
      expect(lines.find((line) => line.endsWith(' su-root'))).toMatch(/^-rwsr-xr-x/);
    },
    BOOT,
  );

  it(
    'lists them exactly in JSON: the newline as it is, the bytes of a name that is not UTF-8',
    async () => {
      const result = await onShared('p1:/data/special', '--json');
      expectOk(result);
      const entries = jsonLines<EntryLine>(result.stdout);
      expect(entries).toHaveLength(8);
      expect(entries.find((entry) => entry.name === NEWLINE_NAME)).toMatchObject({
        type: 'file',
        size: 13,
        mode: '0600',
      });
      const latin1 = entries.find((entry) => entry.nameBytes !== undefined);
      expect(latin1).toMatchObject({ name: 'caf\\xe9.txt', type: 'file', size: 13, mode: '0640' });
      expect(Buffer.from(latin1?.nameBytes ?? '', 'base64').equals(LATIN1_NAME)).toBe(true);
      expect(Date.parse(latin1?.mtime ?? '')).toBeGreaterThan(Date.UTC(2020, 0, 1));
    },
    BOOT,
  );
});
