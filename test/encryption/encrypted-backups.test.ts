// An encrypted repository as an operator uses it, through the real CLI: full and incremental
// backups whose every file is a LUKS qcow2 holding none of the guest's plaintext, a retention
// merge, verify, and restores of every point equal to the source then; the key never in ps, the
// output, the database or the repository; a plan without the key, or with another, refused in
// one line with nothing changed (docs/encryption.md).

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { unlockKeyring } from '../../src/repository/keyring.js';
import { commandLinesDuring, leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { listBackups, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
let dir = '';

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sendense-encrypted-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

// A key as the docs say to make one (openssl rand -base64 32), private.
function makeKey(name: string): { file: string; text: string } {
  const file = path.join(dir, name);
  writeFileSync(file, `${execFileSync('openssl', ['rand', '-base64', '32'], { encoding: 'utf8' }).trim()}\n`, {
    mode: 0o600,
  });
  return { file, text: readFileSync(file, 'utf8').trim() };
}

function writeYaml(name: string, doc: object): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

function repositoryFiles(repository: string): string[] {
  return readdirSync(repository, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

it('full, incrementals and a merge: every file LUKS, no plaintext, verify clean, every point restores exactly; the key nowhere', async () => {
  const key = makeKey('repository.key');
  const repository = path.join(dir, 'repository');
  const disk = createDisk(path.join(dir, 'disk.qcow2'), 128 * MiB);
  // Text a thief would look for, at unaligned places.
  const known = `sendense-known-plaintext-${process.pid}-`.repeat(400);
  writeFileSync(path.join(dir, 'known.txt'), known);
  writeDisk(disk, [`write -s ${path.join(dir, 'known.txt')} ${3 * MiB + 512} ${known.length}`, 'write -P 0x61 40M 8M']);
  const plan = (extra: object = {}) =>
    writeYaml('enc-backup', {
      version: 1,
      kind: 'incremental',
      name: 'enc-backup',
      vm: { name: 'encvm', source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
      repository: { path: repository, encryption: { keyFile: key.file } },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      retention: { keepLast: 2 },
      ...extra,
    });
  const backupPlan = plan();

  const copies: string[] = [];
  const outputs: string[] = [];
  const commandLines: string[] = [];
  for (let round = 0; round < 3; round++) {
    if (round > 0)
      writeDisk(disk, [
        `write -P 0x${(0x70 + round).toString(16)} ${round * 7}M 3M`,
        `write -s ${path.join(dir, 'known.txt')} ${(60 + round) * MiB + 1024} ${known.length}`,
        'write -z 41M 1M',
      ]);
    const run = startSendenseRun([backupPlan, '--db', path.join(dir, 'state.db')]);
    commandLines.push(...(await commandLinesDuring(run.exited)));
    const ended = await run.exited;
    expect(ended.exitCode, ended.stdout + ended.stderr).toBe(0);
    outputs.push(ended.stdout, ended.stderr);
    copies.push(keepCopy(disk, path.join(dir, `point-${round}.qcow2`)));
  }
  const backups = (await listBackups(path.join(dir, 'state.db'), 'encvm')).filter(
    (backup) => backup.status === 'complete',
  );
  // keepLast 2: the first point was merged into the second.
  expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental']);

  const files = repositoryFiles(repository);
  const images = files.filter((file) => file.endsWith('.qcow2'));
  expect(images).toHaveLength(2);
  for (const image of images)
    expect(execFileSync('qemu-img', ['info', image], { encoding: 'utf8' })).toMatch(/^encrypted: yes$/m);
  const needle = Buffer.from('sendense-known-plaintext');
  expect(readFileSync(disk).includes(needle), 'the source holds the text (the search works)').toBe(true);
  for (const file of files) expect(readFileSync(file).includes(needle), file).toBe(false);

  // The operator's key and the repository secret it unwraps: in no command line, output, file or database.
  const secret = unlockKeyring(repository, key.text).passphrase;
  for (const text of [key.text, secret]) {
    expect(commandLines.filter((line) => line.includes(text))).toEqual([]);
    for (const output of outputs) expect(output.includes(text)).toBe(false);
    for (const file of [...files, path.join(dir, 'state.db')])
      expect(readFileSync(file).includes(Buffer.from(text)), file).toBe(false);
  }

  const verifyPlan = writeYaml('enc-verify', {
    version: 1,
    kind: 'verify',
    name: 'enc-verify',
    repository: { path: repository, encryption: { keyFile: key.file } },
    verify: { vm: 'encvm' },
  });
  const verified = await sendenseRun([verifyPlan, '--db', path.join(dir, 'state.db')]);
  expect(verified.exitCode, verified.stdout + verified.stderr).toBe(0);

  for (const [index, backup] of backups.entries()) {
    const restorePlan = writeYaml(`enc-restore-${index}`, {
      version: 1,
      kind: 'restore',
      name: `enc-restore-${index}`,
      vm: { name: 'encvm' },
      repository: { path: repository, encryption: { keyFile: key.file } },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      restore: {
        point: backup.id,
        target: { type: 'file', path: path.join(dir, `restored-${index}-{key}.qcow2`), format: 'qcow2' },
        verify: true,
      },
    });
    const restored = await sendenseRun([restorePlan, '--db', path.join(dir, 'state.db')]);
    expect(restored.exitCode, restored.stdout + restored.stderr).toBe(0);
    // The merged chain holds points 2 and 3 (the copies after rounds 1 and 2).
    expect(
      differenceBetween(path.join(dir, `restored-${index}-2000.qcow2`), copies[index + 1]!),
      `point ${backup.id}`,
    ).toBe('');
  }
  expect(recordedProcesses(path.join(dir, 'state.db'))).toEqual([]);
  expect(leasedPorts(path.join(dir, 'state.db'))).toEqual([]);
}, 240_000);

it('without the key, with another key, or with encryption on a plain repository: one line, the run fails, nothing changed', async () => {
  const key = makeKey('repository.key');
  const other = makeKey('other.key');
  const repository = path.join(dir, 'repository');
  const disk = createDisk(path.join(dir, 'disk.qcow2'), 32 * MiB);
  writeDisk(disk, ['write -P 0x61 0 4M']);
  const backup = (name: string, repositoryBlock: object) =>
    writeYaml(name, {
      version: 1,
      kind: 'incremental',
      name,
      vm: { name: 'encvm', source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
      repository: repositoryBlock,
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    });
  const db = path.join(dir, 'state.db');
  expect(
    (await sendenseRun([backup('first', { path: repository, encryption: { keyFile: key.file } }), '--db', db]))
      .exitCode,
  ).toBe(0);
  const before = repositoryFiles(repository).map((file) => [file, readFileSync(file).toString('base64')]);

  const noKey = await sendenseRun([backup('no-key', { path: repository }), '--db', db]);
  expect(noKey.exitCode).toBe(1);
  expect(noKey.stderr + noKey.stdout).toContain(`repository ${repository} is encrypted; no key given`);
  const wrongKey = await sendenseRun([
    backup('wrong-key', { path: repository, encryption: { keyFile: other.file } }),
    '--db',
    db,
  ]);
  expect(wrongKey.exitCode).not.toBe(0);
  expect(wrongKey.stderr + wrongKey.stdout).toContain(
    `repository ${repository} is encrypted; the key given does not open it`,
  );
  const restoreNoKey = writeYaml('restore-no-key', {
    version: 1,
    kind: 'restore',
    name: 'restore-no-key',
    vm: { name: 'encvm' },
    repository: { path: repository },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
    restore: {
      point: 'latest',
      target: { type: 'file', path: path.join(dir, 'restored-{key}.qcow2'), format: 'qcow2' },
    },
  });
  const refused = await sendenseRun([restoreNoKey, '--db', db]);
  expect(refused.exitCode).toBe(1);
  for (const result of [noKey, wrongKey, refused]) {
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(result.stdout + result.stderr).not.toContain(key.text);
  }
  expect(readdirSync(dir).filter((name) => name.startsWith('restored-'))).toEqual([]);
  expect(repositoryFiles(repository).map((file) => [file, readFileSync(file).toString('base64')])).toEqual(before);
  expect((await listBackups(db, 'encvm')).map((row) => row.status)).toEqual(['complete']);

  const plain = path.join(dir, 'plain');
  expect((await sendenseRun([backup('plain-first', { path: plain }), '--db', db])).exitCode).toBe(0);
  const encryptedOnPlain = await sendenseRun([
    backup('plain-then-key', { path: plain, encryption: { keyFile: key.file } }),
    '--db',
    db,
  ]);
  expect(encryptedOnPlain.exitCode).toBe(1);
  expect(encryptedOnPlain.stderr + encryptedOnPlain.stdout).toContain(`repository ${plain} is not encrypted`);
}, 120_000);

it('validate: a key file others can read is a warning; a literal key and compression with encryption are errors', async () => {
  const key = makeKey('repository.key');
  chmodSync(key.file, 0o644);
  const doc = (repository: object) => ({
    version: 1,
    kind: 'backup',
    name: 'v',
    vm: { name: 'vm', source: { type: 'qemu', disks: [{ key: 2000, path: '/var/lib/vm.qcow2' }] } },
    repository: { path: '/backup/repository', ...repository },
  });
  const shared = await sendenseRun(['validate', writeYaml('shared', doc({ encryption: { keyFile: key.file } }))]);
  expect(shared.exitCode).toBe(0);
  expect(shared.stdout + shared.stderr).toContain('can be read by other users');
  expect(shared.stdout + shared.stderr).toContain('losing every key of this repository loses every backup in it');
  const literal = await sendenseRun(['validate', writeYaml('literal', doc({ encryption: { key: key.text } }))]);
  expect(literal.exitCode).toBe(2);
  expect(literal.stdout + literal.stderr).toContain('a repository key must not be written in a plan');
  expect(literal.stdout + literal.stderr).not.toContain(key.text);
  const both = await sendenseRun([
    'validate',
    writeYaml('both', doc({ encryption: { keyFile: key.file }, compression: 'zstd' })),
  ]);
  expect(both.exitCode).toBe(2);
  expect(both.stdout + both.stderr).toContain('zstd cannot be combined with repository.encryption');
}, 60_000);
