// An attacker who can write an encrypted repository but holds no key (docs/encryption.md#what-an-attacker-cannot-plant):
// a plain qcow2 with planted bytes put in place of an incremental's LUKS file, its manifest's
// digests recomputed; a manifest edited to claim no digests; and a manifest of an earlier version
// (no authentication code), which `verify --authenticate` vouches for only when its file checks.
// Through the real CLI, real qemu-img/qemu-io and LUKS.

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { readBacking } from '../../src/qemu/qcow2-header.js';
import { manifestPath } from '../../src/repository/manifest.js';
import { rangeDigest } from '../../src/repository/range-digest.js';
import { listBackups, sendenseRun, type CliResult } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
let dir = '';

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sendense-planted-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Setup {
  readonly keyFile: string;
  readonly repository: string;
  readonly db: string;
  /** The full's and the incremental's ids, and the source as each was taken. */
  readonly ids: readonly [string, string];
  readonly copies: readonly [string, string];
  /** The incremental's file. */
  readonly file: string;
}

function writeYaml(name: string, doc: object): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

// A full and an incremental of a 32 MiB qemu disk in an encrypted repository.
async function twoPoints(): Promise<Setup> {
  const keyFile = path.join(dir, 'repository.key');
  writeFileSync(keyFile, `${execFileSync('openssl', ['rand', '-base64', '32'], { encoding: 'utf8' }).trim()}\n`, {
    mode: 0o600,
  });
  const repository = path.join(dir, 'repository');
  const db = path.join(dir, 'state.db');
  const disk = createDisk(path.join(dir, 'disk.qcow2'), 32 * MiB);
  const plan = writeYaml('backup', {
    version: 1,
    kind: 'incremental',
    name: 'enc-backup',
    vm: { name: 'encvm', source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
    repository: { path: repository, encryption: { keyFile } },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
  });
  const copies: string[] = [];
  for (const [round, write] of ['write -P 0x61 0 4M', 'write -P 0x62 8M 2M'].entries()) {
    writeDisk(disk, [write]);
    const result = await sendenseRun([plan, '--db', db]);
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    copies.push(keepCopy(disk, path.join(dir, `point-${round}.qcow2`)));
  }
  const backups = await listBackups(db, 'encvm');
  expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental']);
  const file = backups[1]!.disks[0]!.file;
  return { keyFile, repository, db, ids: [backups[0]!.id, backups[1]!.id], copies: [copies[0]!, copies[1]!], file };
}

async function restore(
  setup: Setup,
  name: string,
  point: string,
  verify: boolean,
): Promise<{ result: CliResult; restored: string }> {
  const plan = writeYaml(name, {
    version: 1,
    kind: 'restore',
    name,
    vm: { name: 'encvm' },
    repository: { path: setup.repository, encryption: { keyFile: setup.keyFile } },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
    restore: { point, target: { type: 'file', path: path.join(dir, `${name}-{key}.qcow2`), format: 'qcow2' }, verify },
  });
  return { result: await sendenseRun([plan, '--db', setup.db]), restored: path.join(dir, `${name}-2000.qcow2`) };
}

function verify(setup: Setup, ...extra: string[]): Promise<CliResult> {
  return sendenseRun(['verify', '--vm', 'encvm', '--key-file', setup.keyFile, ...extra, '--db', setup.db]);
}

function editManifest(file: string, edit: (manifest: Record<string, unknown>) => void): void {
  const manifest = JSON.parse(readFileSync(manifestPath(file), 'utf8')) as Record<string, unknown>;
  edit(manifest);
  writeFileSync(manifestPath(file), `${JSON.stringify(manifest)}\n`);
}

function holdsPlanted(file: string): boolean {
  return (
    existsSync(file) &&
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0x66 8M 2M', file], { encoding: 'utf8' }).includes(
      'read 2097152/2097152',
    )
  );
}

it('a plain qcow2 with planted bytes and recomputed digests in place of a LUKS incremental: refused by restores, damage for verify, never authenticated', async () => {
  const setup = await twoPoints();
  // The attacker's file: plain qcow2, the same backing name, planted bytes where the incremental wrote.
  const backing = readBacking(setup.file)!.name;
  const planted = `${setup.file}.planted`;
  execFileSync('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-u',
    '-b',
    backing,
    '-F',
    'qcow2',
    planted,
    String(32 * MiB),
  ]);
  execFileSync('qemu-io', [
    '-c',
    'write -P 0x66 8M 2M',
    `json:${JSON.stringify({ driver: 'qcow2', backing: null, file: { driver: 'file', filename: planted } })}`,
  ]);
  chmodSync(planted, 0o600);
  renameSync(planted, setup.file);
  const digest = await rangeDigest('xxh64', Buffer.alloc(2 * MiB, 0x66));
  // Its digests as anyone can compute them; no authentication code, as an earlier version's manifest.
  editManifest(setup.file, (manifest) => {
    manifest.digests = { algorithm: 'xxh64', data: [[8 * MiB, 2 * MiB, digest]], zero: [] };
    delete manifest.mac;
  });

  // serve and files read the chain itself: refused before anything is served or started.
  for (const command of ['serve', 'files']) {
    const refused = await sendenseRun([
      command,
      'encvm',
      '--point',
      setup.ids[1],
      '--key-file',
      setup.keyFile,
      '--db',
      setup.db,
    ]);
    expect(refused.exitCode, `${command}: ${refused.stdout}${refused.stderr}`).toBe(1);
    expect(refused.stderr.trim().split('\n'), command).toEqual([
      expect.stringContaining(`${setup.file} is not LUKS-encrypted, but repository ${setup.repository} is`),
    ]);
  }

  // Without the check of the restored disk, the chain itself is refused: never the planted bytes.
  const unverified = await restore(setup, 'unverified', setup.ids[1], false);
  expect(unverified.result.exitCode, unverified.result.stdout + unverified.result.stderr).not.toBe(0);
  expect(unverified.result.stderr).toContain(
    `${setup.file} is not LUKS-encrypted, but repository ${setup.repository} is`,
  );
  expect(unverified.result.stderr).not.toMatch(/\n\s+at /);
  expect(holdsPlanted(unverified.restored)).toBe(false);

  const verified = await restore(setup, 'verified', setup.ids[1], true);
  expect(verified.result.exitCode, verified.result.stdout + verified.result.stderr).not.toBe(0);
  expect(holdsPlanted(verified.restored)).toBe(false);

  // Not even the migration of earlier manifests vouches for it: its file is not the repository's.
  const authenticated = await verify(setup, '--authenticate');
  expect(authenticated.exitCode, authenticated.stdout + authenticated.stderr).toBe(1);
  expect(authenticated.stdout).toContain(`DAMAGED backup ${setup.ids[1]} of encvm`);
  expect(authenticated.stdout).toContain('is not LUKS-encrypted');
  expect(JSON.parse(readFileSync(manifestPath(setup.file), 'utf8'))).not.toHaveProperty('mac');
  expect((await listBackups(setup.db, 'encvm')).map((backup) => backup.status)).toEqual(['complete', 'damaged']);
}, 180_000);

it('a manifest edited without the key (its digests dropped) is refused by verify and restores', async () => {
  const setup = await twoPoints();
  editManifest(setup.file, (manifest) => {
    manifest.digests = null;
  });
  const verified = await verify(setup);
  expect(verified.exitCode, verified.stdout + verified.stderr).toBe(1);
  expect(verified.stdout).toContain(`DAMAGED backup ${setup.ids[1]} of encvm`);
  expect(verified.stdout).toContain('its authentication code does not match its content');
  const restored = await restore(setup, 'after-edit', setup.ids[1], true);
  expect(restored.result.exitCode, restored.result.stdout + restored.result.stderr).not.toBe(0);
  expect(restored.result.stderr).not.toMatch(/\n\s+at /);
}, 180_000);

it('a manifest without an authentication code (an earlier version): damage for verify until verify --authenticate vouches for its file; then restores exactly', async () => {
  const setup = await twoPoints();
  editManifest(setup.file, (manifest) => {
    delete manifest.mac;
  });
  const plain = await verify(setup);
  expect(plain.exitCode, plain.stdout + plain.stderr).toBe(1);
  expect(plain.stdout).toContain('it carries no authentication code');
  expect(plain.stdout).toContain('verify --authenticate');

  const authenticated = await verify(setup, '--authenticate');
  expect(authenticated.exitCode, authenticated.stdout + authenticated.stderr).toBe(0);
  expect(authenticated.stdout).toContain(`backup ${setup.ids[1]} disk 2000: ok`);
  expect(authenticated.stdout).toContain('its manifest now carries its authentication code');
  expect(authenticated.stdout).toContain(`CLEARED backup ${setup.ids[1]}`);
  expect(JSON.parse(readFileSync(manifestPath(setup.file), 'utf8'))).toHaveProperty('mac');

  const restored = await restore(setup, 'after-authenticate', setup.ids[1], true);
  expect(restored.result.exitCode, restored.result.stdout + restored.result.stderr).toBe(0);
  expect(differenceBetween(restored.restored, setup.copies[1])).toBe('');
}, 180_000);
