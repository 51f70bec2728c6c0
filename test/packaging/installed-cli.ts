// An installed sendense-run (from the npm package or the .deb), driven the way a user would: its own
// bin, a PATH without the checkout, a working directory outside it; and one backup round trip
// (full, incremental, restore) that proves the installed files are enough to do the job.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { expect } from 'vitest';
import { writeRestorePlan, restoredDifference } from '../restore/restore-plan.js';
import { writePlan } from '../support/sendense-cli.js';
import { createDisk, keepCopy, writeDisk } from '../support/vm-disks.js';

export const CHECKOUT = path.resolve('.');

// The system's tools and this Node.js, nothing of the checkout (no node_modules/.bin).
export const CLEAN_PATH = [
  path.dirname(process.execPath),
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/sbin',
  '/usr/bin',
  '/sbin',
  '/bin',
].join(':');

export interface PackedPackage {
  readonly file: string;
  /** The .tgz's bytes. */
  readonly size: number;
  readonly unpackedSize: number;
  /** Paths inside the package, e.g. 'dist/cli/main.js'. */
  readonly files: readonly string[];
}

// `npm pack` of the checkout into dir (needs `npm run build`: the scripts are skipped).
export async function packPackage(dir: string): Promise<PackedPackage> {
  const result = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: CHECKOUT,
  });
  const [packed] = JSON.parse(result.stdout) as {
    filename: string;
    size: number;
    unpackedSize: number;
    files: { path: string }[];
  }[];
  return {
    file: path.join(dir, packed!.filename),
    size: packed!.size,
    unpackedSize: packed!.unpackedSize,
    files: packed!.files.map((entry) => entry.path),
  };
}

export interface InstalledResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

// Runs an installed bin in cwd with CLEAN_PATH; never throws on a non-zero exit.
export async function runInstalled(bin: string, args: readonly string[], cwd: string): Promise<InstalledResult> {
  const result = await execa(bin, args, {
    cwd,
    reject: false,
    extendEnv: false,
    env: { PATH: CLEAN_PATH, HOME: cwd, CI: '1' },
    timeout: 110_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

// A full, an incremental and a verified restore of one small qcow2 with the installed bin, files in
// dir, state in db (a useRunWorkspace's, which stops what a failed run left); the restored disk must
// equal the source as it was at the incremental.
export async function backUpAndRestore(
  bin: string,
  dir: string,
  db: string,
  ports: readonly [number, number],
): Promise<void> {
  const disk = createDisk(path.join(dir, 'disk0.qcow2'), 16 * 1024 * 1024);
  writeDisk(disk, ['write -P 0x11 0 4M']);
  const plan = writePlan(dir, {
    name: 'installed',
    vm: 'installed-vm',
    disks: [{ key: 2000, path: disk, format: 'qcow2' }],
    repository: path.join(dir, 'repository'),
    ports,
  });
  const check = (result: InstalledResult) => expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);

  check(await runInstalled(bin, ['validate', plan], dir));
  check(await runInstalled(bin, [plan, '--db', db], dir));
  writeDisk(disk, ['write -P 0x22 8M 1M']);
  const copy = keepCopy(disk, path.join(dir, 'disk0-at-incremental.qcow2'));
  check(await runInstalled(bin, [plan, '--db', db], dir));
  await expectLatestRestores(
    (args) => runInstalled(bin, args, dir),
    { dir, db, vm: 'installed-vm', repository: path.join(dir, 'repository'), ports },
    copy,
  );
}

export interface InstalledPoint {
  /** Where the restore plan and the restored disk go. */
  readonly dir: string;
  readonly db: string;
  readonly vm: string;
  readonly repository: string;
  readonly ports: readonly [number, number];
}

// The VM has a full and an incremental, and its newest point restores to exactly `copy` (disk
// 2000), with an installed sendense-run run by `run` (args; exit 0 expected).
export async function expectLatestRestores(
  run: (args: readonly string[]) => Promise<InstalledResult>,
  point: InstalledPoint,
  copy: string,
): Promise<void> {
  const check = (result: InstalledResult) => expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  const backups = await run(['backups', '--vm', point.vm, '--json', '--db', point.db]);
  check(backups);
  const types = backups.stdout
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { type: string }).type);
  expect(types).toEqual(['full', 'incremental']);

  const out = path.join(point.dir, 'restored');
  mkdirSync(out);
  const restore = writeRestorePlan(point.dir, {
    name: `${point.vm}-restore`,
    vm: point.vm,
    repository: point.repository,
    ports: point.ports,
    point: 'latest',
    target: { type: 'file', path: path.join(out, 'disk-{key}.qcow2'), format: 'qcow2' },
  });
  check(await run([restore, '--db', point.db]));
  expect(restoredDifference(copy, path.join(out, 'disk-2000.qcow2'), 'qcow2')).toBe('');
}
