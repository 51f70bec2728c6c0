// A copy of an encrypted repository (docs/copies.md#encrypted-repositories): the copy's files are
// the hub's LUKS qcow2 files byte for byte and its keyring holds only the wrapped secret; the key
// and the repository secret are in no command line on either side (sampled from /proc while the
// copy runs: the copy's sshd is on this machine) and in no file of the copy; a restore from the
// copy with the key gives every point back exactly.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { stringify } from 'yaml';
import { unlockKeyring } from '../../src/repository/keyring.js';
import { commandLinesDuring } from '../support/process-tree.js';
import { listBackups, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { copyCounts, filesUnder, useCopySshd, writeCopyPlan } from './copy-support.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-copy-encrypted-');
const node = useCopySshd();

function writeYaml(name: string, doc: object): string {
  const file = path.join(ws.dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

it('an encrypted repository is copied as LUKS files with its keyring; the key is nowhere there; a restore from the copy with the key is exact', async () => {
  const keyFile = path.join(ws.dir, 'repository.key');
  writeFileSync(keyFile, `${execFileSync('openssl', ['rand', '-base64', '32'], { encoding: 'utf8' }).trim()}\n`, {
    mode: 0o600,
  });
  const key = readFileSync(keyFile, 'utf8').trim();
  const disk = createDisk(path.join(ws.dir, 'disk.qcow2'), 32 * MiB);
  const backupPlan = writeYaml('enc-backup', {
    version: 1,
    kind: 'incremental',
    name: 'enc-backup',
    vm: { name: 'encvm', source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
    repository: { path: ws.repository, encryption: { keyFile } },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
  });
  const copies: string[] = [];
  for (let round = 0; round < 2; round++) {
    writeDisk(disk, [`write -P 0x${(0x41 + round).toString(16)} ${round * 5}M 3M`]);
    const result = await sendenseRun([backupPlan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    copies.push(keepCopy(disk, path.join(ws.dir, `point-${round}.qcow2`)));
  }

  const offsite = path.join(ws.dir, 'offsite');
  const plan = writeCopyPlan(ws.dir, node.sshd, { repository: ws.repository, to: offsite, keyFile });
  const run = startSendenseRun([plan, '--db', ws.db]);
  const commandLines = await commandLinesDuring(run.exited);
  const ended = await run.exited;
  expect(ended.exitCode, `${ended.stdout}\n${ended.stderr}`).toBe(0);
  expect(copyCounts({ exitCode: 0, stdout: ended.stdout, stderr: ended.stderr })).toMatchObject({
    pointsSent: 2,
    filesSent: 2,
  });
  // The copy's commands ran here (its sshd is on this machine): they were seen.
  expect(commandLines.some((line) => line.includes('sync --'))).toBe(true);

  const images = filesUnder(offsite).filter((file) => file.endsWith('.qcow2'));
  expect(images).toHaveLength(2);
  for (const image of images)
    expect(execFileSync('qemu-img', ['info', path.join(offsite, image)], { encoding: 'utf8' })).toMatch(
      /^encrypted: yes$/m,
    );
  expect(readFileSync(path.join(offsite, '.sendense-keys'), 'utf8')).toBe(
    readFileSync(path.join(ws.repository, '.sendense-keys'), 'utf8'),
  );
  expect(JSON.parse(readFileSync(path.join(offsite, '.sendense-repository'), 'utf8'))).toMatchObject({
    encryption: 'luks',
    compression: 'none',
    copyOf: { path: ws.repository },
  });

  const secret = unlockKeyring(ws.repository, key).passphrase;
  for (const text of [key, secret]) {
    expect(commandLines.filter((line) => line.includes(text))).toEqual([]);
    expect(ended.stdout.includes(text) || ended.stderr.includes(text)).toBe(false);
    for (const file of filesUnder(offsite))
      expect(readFileSync(path.join(offsite, file)).includes(Buffer.from(text)), file).toBe(false);
  }

  // From the copy alone, with the key.
  const copyDb = path.join(ws.dir, 'copy.db');
  const imported = await sendenseRun(['catalog', 'import', offsite, '--key-file', keyFile, '--db', copyDb]);
  expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
  const backups = (await listBackups(copyDb, 'encvm')).filter((backup) => backup.status === 'complete');
  expect(backups).toHaveLength(2);
  for (const [index, backup] of backups.entries()) {
    const restorePlan = writeYaml(`from-copy-${index}`, {
      version: 1,
      kind: 'restore',
      name: `from-copy-${index}`,
      vm: { name: 'encvm' },
      repository: { path: offsite, encryption: { keyFile } },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      restore: {
        point: backup.id,
        target: { type: 'file', path: path.join(ws.dir, `restored-${index}-{key}.qcow2`), format: 'qcow2' },
        verify: true,
      },
    });
    const restored = await sendenseRun([restorePlan, '--db', copyDb]);
    expect(restored.exitCode, `${restored.stdout}\n${restored.stderr}`).toBe(0);
    expect(
      differenceBetween(path.join(ws.dir, `restored-${index}-2000.qcow2`), copies[index]!),
      `point ${backup.id}`,
    ).toBe('');
  }
}, 240_000);
