// A test VM disk with real filesystems (sgdisk + mkfs.ext4 -d) holding files with known content,
// modes, owners, times, symlinks, spaces and non-ASCII names; backed up with the real CLI at
// two points (a full, then an incremental after files changed and were deleted).

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  lchownSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  lstatSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, listBackups, writePlan, type BackupRow } from '../support/sendense-cli.js';

const MiB = 1024 * 1024;
export const PART1_START = 2048; // sectors
export const PART1_MIB = 40;

/** What the test wrote: relative path -> expected facts. */
export interface TreeEntry {
  readonly type: 'file' | 'directory' | 'symlink';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch, whole. */
  readonly mtime: number;
  readonly sha256?: string;
  readonly size?: number;
  readonly target?: string;
}

export type Tree = Readonly<Record<string, TreeEntry>>;

const T0 = Date.UTC(2021, 4, 6, 7, 8, 9) / 1000;

export interface Spec {
  readonly content?: Buffer | string;
  readonly dir?: boolean;
  readonly link?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: number;
}

const BIG = randomBytes(3 * MiB);

// Point 1 of the guest's root filesystem.
const POINT1: Readonly<Record<string, Spec>> = {
  etc: { dir: true, mode: 0o755, mtime: T0 + 5 },
  'etc/hosts': { content: '127.0.0.1 localhost\n', mode: 0o640, uid: 1001, gid: 1002, mtime: T0 },
  'etc/secret.conf': { content: 'password=never-in-logs\n', mode: 0o600, uid: 0, gid: 0, mtime: T0 + 1 },
  'dir with space': { dir: true, mode: 0o750, uid: 1000, gid: 1000, mtime: T0 + 6 },
  'dir with space/file one.txt': { content: 'one\n', mode: 0o644, uid: 1000, gid: 1000, mtime: T0 + 2 },
  données: { dir: true, mode: 0o755, mtime: T0 + 7 },
  'données/été.txt': { content: 'café ☕\n', mode: 0o644, mtime: T0 + 3 },
  'big.bin': { content: BIG, mode: 0o644, mtime: T0 + 4 },
  bin: { dir: true, mode: 0o755, mtime: T0 + 8 },
  'bin/run.sh': { content: '#!/bin/sh\necho hi\n', mode: 0o4755, mtime: T0 + 9 },
  'hosts-link': { link: 'etc/hosts', uid: 1001, gid: 1002, mtime: T0 + 10 },
  'to-delete.txt': { content: 'gone at point 2\n', mode: 0o644, mtime: T0 + 11 },
};

// Point 2: files changed (content, mode, time), one deleted, one added.
const { 'to-delete.txt': _deleted, ...kept } = POINT1;
const POINT2: Readonly<Record<string, Spec>> = {
  ...kept,
  etc: { dir: true, mode: 0o755, mtime: T0 + 105 },
  'etc/hosts': { content: '127.0.0.1 localhost\n10.0.0.2 db\n', mode: 0o644, uid: 1001, gid: 1002, mtime: T0 + 100 },
  'données/été.txt': { content: 'café ☕ encore\n', mode: 0o644, mtime: T0 + 103 },
  'new file.txt': { content: 'new at point 2\n', mode: 0o664, uid: 1000, gid: 1000, mtime: T0 + 110 },
};

export const POINT_TREES: readonly Readonly<Record<string, Spec>>[] = [POINT1, POINT2];

// Writes a tree into dir (parents before children, times last) and returns what it wrote.
export function writeTree(dir: string, specs: Readonly<Record<string, Spec>>): Tree {
  const names = Object.keys(specs).sort();
  for (const name of names) {
    const spec = specs[name];
    const file = path.join(dir, name);
    if (spec.dir) mkdirSync(file, { recursive: true });
    else if (spec.link !== undefined) symlinkSync(spec.link, file);
    else writeFileSync(file, spec.content ?? '');
    if (spec.link === undefined) chmodSync(file, spec.mode ?? 0o644);
    lchownSync(file, spec.uid ?? 0, spec.gid ?? 0);
  }
  // Children first, so writing into a folder does not move its time afterwards.
  for (const name of [...names].reverse()) {
    const spec = specs[name];
    const time = spec.mtime ?? T0;
    if (spec.link !== undefined) lutimesSync(path.join(dir, name), time, time);
    else utimesSync(path.join(dir, name), time, time);
  }
  utimesSync(dir, T0, T0);
  return readTree(dir);
}

// What a directory holds, in the Tree form (for comparing an extraction with what was written).
export function readTree(dir: string, prefix = ''): Tree {
  const tree: Record<string, TreeEntry> = {};
  for (const name of readdirSync(path.join(dir, prefix)).sort()) {
    if (name === 'lost+found' && prefix === '') continue;
    const relative = prefix ? `${prefix}/${name}` : name;
    const file = path.join(dir, relative);
    const stat = lstatSync(file);
    const base = { mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, mtime: Math.floor(stat.mtimeMs / 1000) };
    if (stat.isSymbolicLink()) tree[relative] = { type: 'symlink', ...base, mode: 0o777, target: readlinkSync(file) };
    else if (stat.isDirectory()) {
      tree[relative] = { type: 'directory', ...base };
      Object.assign(tree, readTree(dir, relative));
    } else
      tree[relative] = {
        type: 'file',
        ...base,
        size: stat.size,
        sha256: createHash('sha256').update(readFileSync(file)).digest('hex'),
      };
  }
  return tree;
}

// Entries of a tree under a prefix, re-rooted at it (e.g. 'etc' -> { hosts: ..., 'secret.conf': ... }).
export function subTree(tree: Tree, prefix: string, as = prefix): Tree {
  const result: Record<string, TreeEntry> = {};
  for (const [name, entry] of Object.entries(tree)) {
    if (name === prefix) result[as] = entry;
    else if (name.startsWith(`${prefix}/`)) result[`${as}/${name.slice(prefix.length + 1)}`] = entry;
  }
  return result;
}

// A tree as extraction writes it without --keep-setuid: no setuid/setgid bit.
export function withoutSetuid(tree: Tree): Tree {
  return Object.fromEntries(
    Object.entries(tree).map(([name, entry]) => [
      name,
      entry.type === 'symlink' ? entry : { ...entry, mode: entry.mode & ~0o6000 },
    ]),
  );
}

// A raw GPT disk: p1 ext4 (label 'guestroot') made from `root`, p2 left without a filesystem.
export function makeGptExt4Disk(raw: string, root: string): void {
  execFileSync('truncate', ['-s', `${64 * MiB}`, raw]);
  execFileSync(
    'sgdisk',
    ['-n', `1:${PART1_START}:+${PART1_MIB}M`, '-t', '1:8300', '-c', '1:root', '-n', '2:0:0', '-t', '2:8300', raw],
    { stdio: 'ignore' },
  );
  writeExt4(raw, root);
}

// (Re)makes p1's ext4 from `root` in place: the same UUID, new content.
export function writeExt4(raw: string, root: string): void {
  execFileSync('mkfs.ext4', [
    '-q',
    '-F',
    '-L',
    'guestroot',
    '-U',
    '5d1c0c8e-6a43-4f7e-9b1e-0f5e8c4a7d21',
    '-d',
    root,
    '-E',
    `offset=${PART1_START * 512},nodiscard`,
    raw,
    `${PART1_MIB}M`,
  ]);
}

// Writes a raw disk's content into the VM's qcow2 source (its bitmaps see the writes).
export function copyIntoSource(raw: string, source: string): void {
  execFileSync('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'qcow2', raw, source]);
}

export interface BackedUpGuest {
  readonly vm: string;
  readonly db: string;
  readonly repository: string;
  readonly backups: readonly BackupRow[];
  /** trees[point - 1]: what the guest filesystem held at that point. */
  readonly trees: readonly Tree[];
}

// Two points of a one-disk VM: the full, then an incremental after the tree of point 2 was written.
export async function backUpGuest(
  dir: string,
  vm: string,
  ports: readonly [number, number],
  pointTrees: readonly Readonly<Record<string, Spec>>[] = POINT_TREES,
): Promise<BackedUpGuest> {
  const db = path.join(dir, 'state.db');
  const repository = path.join(dir, 'repository');
  const raw = path.join(dir, 'guest.raw');
  const source = path.join(dir, `${vm}-2000.qcow2`);
  const plan = writePlan(dir, {
    name: `${vm}-backup`,
    kind: 'incremental',
    vm,
    disks: [{ key: 2000, path: source }],
    repository,
    ports,
  });
  const trees: Tree[] = [];
  for (let point = 1; point <= pointTrees.length; point++) {
    const root = path.join(dir, `tree${point}`);
    mkdirSync(root);
    trees.push(writeTree(root, pointTrees[point - 1]));
    if (point === 1) {
      makeGptExt4Disk(raw, root);
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, source]);
    } else {
      writeExt4(raw, root);
      copyIntoSource(raw, source);
    }
    const result = await execa(process.execPath, [BIN, plan, '--db', db], { reject: false, env: { CI: '1' } });
    if (result.exitCode !== 0) throw new Error(`backup ${point} failed:\n${result.stdout}\n${result.stderr}`);
  }
  const backups = (await listBackups(db, vm)).filter((backup) => backup.status === 'complete');
  if (backups.map((b) => b.type).join(',') !== 'full,incremental')
    throw new Error(`expected a full and an incremental, got ${backups.map((b) => b.type)}`);
  return { vm, db, repository, backups, trees };
}

// sha256 and mtime of every file in the repository, to show nothing there changed.
export function repositoryFingerprint(repository: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const name of readdirSync(repository, { recursive: true }) as string[]) {
    const file = path.join(repository, name);
    const stat = lstatSync(file);
    if (!stat.isFile()) continue;
    result[name] =
      `${createHash('sha256').update(readFileSync(file)).digest('hex')} ${stat.mtimeMs} ${stat.mode.toString(8)}`;
  }
  return result;
}

export interface FilesResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

// `sendense-run files ...` (or mount), with room for an appliance start under software emulation.
export async function sendenseFiles(args: readonly string[]): Promise<FilesResult> {
  const result = await execa(process.execPath, [BIN, ...args], { reject: false, env: { CI: '1' }, timeout: 600_000 });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

export function jsonLines<T>(stdout: string): T[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as T);
}
