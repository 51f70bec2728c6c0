// Another VM's file in a point's place (docs/encryption.md#what-an-attacker-cannot-plant): two VMs
// back up into one encrypted repository, so their files open with the same secret. Whoever can
// write the repository, with no key, copies VM B's file over VM A's point's file, and may put B's
// digests into A's manifest and drop its authentication code. No reader hands out B's bytes as A's,
// and `verify --authenticate` never vouches for the copy. Through the real CLI, qemu-img and LUKS.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { manifestPath, type DiskManifest } from '../../src/repository/manifest.js';
import { writeManifest } from '../../src/repository/manifest-file.js';
import { offerRepositoryKey } from '../../src/repository/repository-keys.js';
import { listBackups, sendenseRun, type CliResult } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
let dir = '';

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sendense-swapped-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Vm {
  readonly name: string;
  readonly id: string;
  readonly file: string;
  /** The source as it was backed up. */
  readonly copy: string;
}

interface Setup {
  readonly keyFile: string;
  readonly repository: string;
  readonly db: string;
  readonly a: Vm;
  readonly b: Vm;
}

function writeYaml(name: string, doc: object): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

// VM A (4 MiB of 0x61) and VM B (4 MiB of 0x62), one full backup each, in one encrypted repository.
async function twoVms(): Promise<Setup> {
  const keyFile = path.join(dir, 'repository.key');
  writeFileSync(keyFile, `${execFileSync('openssl', ['rand', '-base64', '32'], { encoding: 'utf8' }).trim()}\n`, {
    mode: 0o600,
  });
  const repository = path.join(dir, 'repository');
  const db = path.join(dir, 'state.db');
  const vms: Vm[] = [];
  for (const [name, pattern] of [
    ['vma', '0x61'],
    ['vmb', '0x62'],
  ] as const) {
    const disk = createDisk(path.join(dir, `${name}.qcow2`), 32 * MiB);
    writeDisk(disk, [`write -P ${pattern} 0 4M`]);
    const plan = writeYaml(`${name}-backup`, {
      version: 1,
      kind: 'incremental',
      name: `${name}-backup`,
      vm: { name, source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
      repository: { path: repository, encryption: { keyFile } },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    });
    const result = await sendenseRun([plan, '--db', db]);
    expect(result.exitCode, result.stdout + result.stderr).toBe(0);
    const [backup] = await listBackups(db, name);
    vms.push({
      name,
      id: backup!.id,
      file: backup!.disks[0]!.file,
      copy: keepCopy(disk, path.join(dir, `${name}-point.qcow2`)),
    });
  }
  return { keyFile, repository, db, a: vms[0]!, b: vms[1]! };
}

async function restore(setup: Setup, name: string, verify: boolean): Promise<{ result: CliResult; restored: string }> {
  const plan = writeYaml(name, {
    version: 1,
    kind: 'restore',
    name,
    vm: { name: setup.a.name },
    repository: { path: setup.repository, encryption: { keyFile: setup.keyFile } },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
    restore: {
      point: setup.a.id,
      target: { type: 'file', path: path.join(dir, `${name}-{key}.qcow2`), format: 'qcow2' },
      verify,
    },
  });
  return { result: await sendenseRun([plan, '--db', setup.db]), restored: path.join(dir, `${name}-2000.qcow2`) };
}

function verify(setup: Setup, ...extra: string[]): Promise<CliResult> {
  return sendenseRun(['verify', '--vm', setup.a.name, '--key-file', setup.keyFile, ...extra, '--db', setup.db]);
}

function pointCommand(setup: Setup, command: 'serve' | 'files'): Promise<CliResult> {
  return sendenseRun([command, setup.a.name, '--point', setup.a.id, '--key-file', setup.keyFile, '--db', setup.db]);
}

function readManifestJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(manifestPath(file), 'utf8')) as Record<string, unknown>;
}

// Whether a restored disk holds VM B's bytes where B wrote them.
function holdsB(file: string): boolean {
  return existsSync(file) && spawnSync('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0x62 0 4M', file]).status === 0;
}

const refusal = (setup: Setup): string =>
  `the file of backup ${setup.a.id} for disk 2000 (${setup.a.file}) is refused as this point's: its LUKS header is not the one its manifest names`;

it("VM B's file copied over VM A's point, A's manifest kept: serve, files and restores refuse it, and none hands out B's bytes", async () => {
  const setup = await twoVms();
  copyFileSync(setup.b.file, setup.a.file);

  for (const command of ['serve', 'files'] as const) {
    const refused = await pointCommand(setup, command);
    expect(refused.exitCode, `${command}: ${refused.stdout}${refused.stderr}`).toBe(1);
    expect(refused.stderr.trim().split('\n'), command).toEqual([expect.stringContaining(refusal(setup))]);
  }
  for (const verified of [false, true]) {
    const { result, restored } = await restore(setup, verified ? 'verified' : 'unverified', verified);
    expect(result.exitCode, result.stdout + result.stderr).not.toBe(0);
    expect(result.stderr).toContain(refusal(setup));
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(holdsB(restored)).toBe(false);
  }
  const verified = await verify(setup);
  expect(verified.exitCode, verified.stdout + verified.stderr).toBe(1);
  expect(verified.stdout).toContain(`DAMAGED backup ${setup.a.id} of vma`);
  expect(verified.stdout).toContain('its LUKS header is not the one its manifest names');
}, 240_000);

it("B's file and B's digests in A's point, A's authentication code dropped: verify --authenticate does not clear it, the verified restore still refuses", async () => {
  const setup = await twoVms();
  copyFileSync(setup.b.file, setup.a.file);
  const theirs = readManifestJson(setup.b.file);
  const ours = readManifestJson(setup.a.file);
  // As a manifest of an earlier version would be: no code, no identity; B's digests, which B's file matches.
  ours.digests = theirs.digests;
  delete ours.mac;
  delete ours.identity;
  writeFileSync(manifestPath(setup.a.file), `${JSON.stringify(ours)}\n`);

  const authenticated = await verify(setup, '--authenticate');
  expect(authenticated.exitCode, authenticated.stdout + authenticated.stderr).toBe(1);
  expect(authenticated.stdout).toContain(`DAMAGED backup ${setup.a.id} of vma`);
  expect(authenticated.stdout).toContain(`is also named by the authenticated manifest ${manifestPath(setup.b.file)}`);
  expect(authenticated.stdout).toContain("it is a copy of another point's file");
  expect(authenticated.stdout).not.toContain('CLEARED');
  expect(readManifestJson(setup.a.file)).not.toHaveProperty('mac');
  expect((await listBackups(setup.db, 'vma')).map((backup) => backup.status)).toEqual(['damaged']);

  // Asked again, it still does not vouch for the copy.
  const again = await verify(setup, '--authenticate');
  expect(again.stdout).not.toContain('CLEARED');
  expect(readManifestJson(setup.a.file)).not.toHaveProperty('mac');

  const { result, restored } = await restore(setup, 'verified', true);
  expect(result.exitCode, result.stdout + result.stderr).not.toBe(0);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(holdsB(restored)).toBe(false);
}, 240_000);

it('a manifest written before it named its file keeps working; verify --authenticate then names it, and a copy put in its place is refused', async () => {
  const setup = await twoVms();
  // An earlier version's manifest: authenticated, without the identity of its file.
  offerRepositoryKey({ keyFile: setup.keyFile });
  const { identity: _identity, mac: _mac, ...earlier } = readManifestJson(setup.a.file) as unknown as DiskManifest;
  await writeManifest(manifestPath(setup.a.file), earlier);
  expect(readManifestJson(setup.a.file)).not.toHaveProperty('identity');

  const before = await restore(setup, 'before', false);
  expect(before.result.exitCode, before.result.stdout + before.result.stderr).toBe(0);
  expect(differenceBetween(before.restored, setup.a.copy)).toBe('');

  const authenticated = await verify(setup, '--authenticate');
  expect(authenticated.exitCode, authenticated.stdout + authenticated.stderr).toBe(0);
  expect(authenticated.stdout).toContain("names its file's LUKS header");
  expect(readManifestJson(setup.a.file)).toHaveProperty('identity');

  copyFileSync(setup.b.file, setup.a.file);
  const refused = await pointCommand(setup, 'serve');
  expect(refused.exitCode, refused.stdout + refused.stderr).toBe(1);
  expect(refused.stderr).toContain(refusal(setup));
}, 240_000);
