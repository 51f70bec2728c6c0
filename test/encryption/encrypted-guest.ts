// An encrypted repository made as a user makes one: a key file (openssl rand -base64 32, mode
// 0600), a backup plan with repository.encryption.keyFile, and a qemu source whose disk holds a
// real GPT + ext4 filesystem (mkfs.ext4 -d) with known files, backed up by the real CLI at each
// point. A copy of the source is kept at each point; the checks read the encrypted points through
// the product's own image options with the key (the test's decryption), or restore them.

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { runLocal } from '../../src/qemu/command-runner.js';
import { qcow2ImageOpts } from '../../src/qemu/image-opts.js';
import { secretObjectArgs } from '../../src/qemu/image-secret.js';
import { offerRepositoryKey } from '../../src/repository/repository-keys.js';
import { openStore, type Backup } from '../../src/store/index.js';
import { copyIntoSource, makeGptExt4Disk, readTree, sendenseFiles, writeExt4, type Tree } from '../files/guest-disk.js';
import { sendenseRun, type CliResult } from '../support/sendense-cli.js';
import { keepCopy } from '../support/vm-disks.js';

export interface EncryptedGuest {
  readonly vm: string;
  readonly dir: string;
  readonly db: string;
  readonly repository: string;
  /** The key file the plans name (mode 0600). */
  readonly keyFile: string;
  /** What it holds: never to appear in any output. */
  readonly keyText: string;
  readonly ports: readonly [number, number];
  /** The source disk (its current state: the last point). */
  readonly source: string;
  /** Backup id of each point, oldest first. */
  readonly ids: string[];
  /** copies[id]: the source disk when that point was taken. */
  readonly copies: Record<string, string>;
  /** trees[id]: what the guest's filesystem p1 held then. */
  readonly trees: Record<string, Tree>;
  /** Every command's output, to check the key never shows (expectKeyNowhere). */
  readonly outputs: CliResult[];
}

export const KNOWN_FILE = 'known.txt';
export const KNOWN_TEXT = 'the file every point of the encrypted guest holds\n';

// The tree of point `n` (1-based): the known file, a file of its own, an /etc that changes.
function pointTree(n: number): Record<string, string> {
  return {
    [KNOWN_FILE]: KNOWN_TEXT,
    [`point-${n}.txt`]: `written before point ${n}\n`,
    'etc/hosts': `127.0.0.1 localhost\n10.0.0.${n} db\n`,
    'etc/motd': 'x'.repeat(70_000 + n),
  };
}

export function makeEncryptedGuest(dir: string, vm: string, ports: readonly [number, number]): EncryptedGuest {
  const keyText = randomBytes(32).toString('base64');
  const keyFile = path.join(dir, 'repository.key');
  writeFileSync(keyFile, `${keyText}\n`, { mode: 0o600 });
  return {
    vm,
    dir,
    db: path.join(dir, 'state.db'),
    repository: path.join(dir, 'repository'),
    keyFile,
    keyText,
    ports,
    source: path.join(dir, `${vm}-2000.qcow2`),
    ids: [],
    copies: {},
    trees: {},
    outputs: [],
  };
}

/** A backup plan of the guest in the file `<name>.yaml`; `encryption: false` leaves repository.encryption out (the key then comes from --key-file). */
export function writeBackupPlan(
  guest: EncryptedGuest,
  name: string,
  options: { readonly retention?: Record<string, number>; readonly encryption?: boolean } = {},
): string {
  const doc = {
    version: 1,
    kind: 'incremental',
    // One plan name for every file: a plan's retention acts on the points that plan made.
    name: `${guest.vm}-backup`,
    timezone: 'UTC',
    vm: { name: guest.vm, source: { type: 'qemu', disks: [{ key: 2000, path: guest.source }] } },
    repository: {
      path: guest.repository,
      ...(options.encryption === false ? {} : { encryption: { keyFile: guest.keyFile } }),
    },
    nbd: { ports: `${guest.ports[0]}-${guest.ports[1]}` },
    ...(options.retention ? { retention: options.retention } : {}),
  };
  const file = path.join(guest.dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

/** A restore plan of one point into a plain qcow2 file, with the repository's key. */
export function writeRestorePlan(guest: EncryptedGuest, name: string, point: string, to: string): string {
  const doc = {
    version: 1,
    kind: 'restore',
    name,
    vm: { name: guest.vm },
    repository: { path: guest.repository, encryption: { keyFile: guest.keyFile } },
    nbd: { ports: `${guest.ports[0]}-${guest.ports[1]}` },
    restore: { point, disks: [2000], target: { type: 'file', path: to, format: 'qcow2' } },
  };
  const file = path.join(guest.dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

// The CLI, its output kept for expectKeyNowhere; `appliance`: room for a libguestfs appliance's start.
export async function cli(
  guest: EncryptedGuest,
  args: readonly string[],
  env: Record<string, string> = {},
  appliance = false,
): Promise<CliResult> {
  const result = appliance
    ? await sendenseFiles([...args, '--db', guest.db])
    : await sendenseRun([...args, '--db', guest.db], env);
  guest.outputs.push(result);
  return result;
}

// `count` more points: before each, p1's ext4 is made anew from that point's tree.
export async function backUpPoints(guest: EncryptedGuest, count: number): Promise<void> {
  const plan = writeBackupPlan(guest, 'backup');
  const raw = path.join(guest.dir, 'guest.raw');
  for (let i = 0; i < count; i++) {
    const n = guest.ids.length + 1;
    const root = path.join(guest.dir, `tree${n}`);
    for (const [name, content] of Object.entries(pointTree(n))) {
      mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
      writeFileSync(path.join(root, name), content);
    }
    if (n === 1) {
      makeGptExt4Disk(raw, root);
      execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, guest.source]);
    } else {
      writeExt4(raw, root);
      copyIntoSource(raw, guest.source);
    }
    const result = await cli(guest, [plan]);
    expect(result.exitCode, `backup ${n}: ${result.stdout}\n${result.stderr}`).toBe(0);
    const id = (await backupsOf(guest)).at(-1)!.id;
    guest.ids.push(id);
    guest.copies[id] = keepCopy(guest.source, path.join(guest.dir, `point${n}.qcow2`));
    guest.trees[id] = readTree(root);
  }
}

export async function backupsOf(guest: EncryptedGuest): Promise<readonly Backup[]> {
  const store = await openStore(guest.db);
  try {
    return await store.listBackups({ vm: guest.vm });
  } finally {
    await store.close();
  }
}

// '' when an encrypted point (read through its chain, with the key) reads as the copy; -U: also
// while a killed merge's qemu-nbd holds a file.
export async function encryptedDifference(guest: EncryptedGuest, file: string, copy: string): Promise<string> {
  offerRepositoryKey({ keyFile: guest.keyFile });
  const { opts, secret } = qcow2ImageOpts(file);
  const result = await runLocal(
    [
      'qemu-img',
      'compare',
      '-U',
      ...secretObjectArgs(secret),
      '--image-opts',
      opts,
      `driver=qcow2,file.driver=file,file.filename=${copy}`,
    ],
    { secret },
  );
  return result.exitCode === 0 ? '' : `${result.stdout}${result.stderr}`.trim() || `exit ${result.exitCode}`;
}

// Every point left is complete and reads as the source did then; returns their ids, oldest first.
export async function expectPointsExact(guest: EncryptedGuest): Promise<string[]> {
  const left = await backupsOf(guest);
  for (const backup of left) {
    expect(backup.status, backup.id).toBe('complete');
    for (const disk of backup.disks)
      expect(await encryptedDifference(guest, disk.file, guest.copies[backup.id]!), `point ${backup.id}`).toBe('');
  }
  expect(left.map((backup) => backup.parentId)).toEqual([null, ...left.slice(0, -1).map((backup) => backup.id)]);
  return left.map((backup) => backup.id);
}

// The key's text in no output of any command the test ran (stdout, stderr, --json).
export function expectKeyNowhere(guest: EncryptedGuest): void {
  expect(guest.outputs.length).toBeGreaterThan(0);
  for (const result of guest.outputs) expect(`${result.stdout}\n${result.stderr}`).not.toContain(guest.keyText);
}

// The one `sendense-run:` line of a refusal, no stack.
export function expectOneLine(result: CliResult, exitCode: number, message: RegExp): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(exitCode);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^sendense-run: /);
  expect(lines[0]).toMatch(message);
  expect(result.stderr).not.toMatch(/internal error|\n\s+at /);
}
