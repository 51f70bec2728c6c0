// An encrypted repository with its VM's disks on an SSH node (a real sshd): the node transfer
// pushes plaintext through the tunnel into the hub's qemu-nbd, which encrypts; a restore through
// the node reads it back, verified there against the manifests' digests. The key never reaches the
// node (docs/encryption.md#where-the-key-goes).

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { stringify } from 'yaml';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { listBackups, parseEvents, sendenseRun } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { nodeBlock, processesMentioning, useSshWorkspace } from '../ssh/ssh-node.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useSshWorkspace('ssh-encrypted-');

it('full and incremental through the node into LUKS files; both points restore on the node exactly', async () => {
  const { node, dir, db, repository } = ws;
  const keyFile = path.join(dir, 'repository.key');
  writeFileSync(keyFile, execFileSync('openssl', ['rand', '-base64', '32']), { mode: 0o600 });
  const disk = createDisk(path.join(dir, 'disk.qcow2'), 64 * MiB);
  writeDisk(disk, ['write -P 0x61 0 8M', 'write -P 0x62 33M 1M']);
  const common = {
    version: 1,
    node: nodeBlock(node),
    repository: { path: repository, encryption: { keyFile } },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
  };
  const write = (name: string, doc: object) => {
    const file = path.join(dir, `${name}.yaml`);
    writeFileSync(file, stringify({ ...common, name, ...doc }));
    return file;
  };
  const backupPlan = write('ssh-enc-backup', {
    kind: 'incremental',
    vm: { name: 'sshenc', source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
  });
  expect((await sendenseRun([backupPlan, '--db', db])).exitCode).toBe(0);
  const first = keepCopy(disk, path.join(dir, 'first.qcow2'));
  writeDisk(disk, ['write -P 0x63 4M 2M', 'write -z 33M 512k']);
  const second = await sendenseRun([backupPlan, '--db', db]);
  expect(second.exitCode, second.stdout + second.stderr).toBe(0);
  const latest = keepCopy(disk, path.join(dir, 'latest.qcow2'));

  const images = readdirSync(repository, { recursive: true, withFileTypes: true }).filter((entry) =>
    entry.name.endsWith('.qcow2'),
  );
  expect(images).toHaveLength(2);
  for (const image of images)
    expect(execFileSync('qemu-img', ['info', path.join(image.parentPath, image.name)], { encoding: 'utf8' })).toMatch(
      /^encrypted: yes$/m,
    );

  const backups = (await listBackups(db, 'sshenc')).filter((backup) => backup.status === 'complete');
  for (const [index, backup] of backups.entries()) {
    const restorePlan = write(`ssh-enc-restore-${index}`, {
      kind: 'restore',
      vm: { name: 'sshenc' },
      restore: {
        point: backup.id,
        target: { type: 'file', path: path.join(dir, `restored-${index}-{key}.qcow2`), format: 'qcow2' },
        verify: true,
      },
    });
    const restored = await sendenseRun([restorePlan, '--db', db, '--json']);
    expect(restored.exitCode, restored.stdout + restored.stderr).toBe(0);
    // Checked on the node against the plaintext's digests, with no key there (docs/how-it-works.md#a-verified-restore).
    expect(
      parseEvents(restored.stdout).find((event) => event.type === 'step-done' && event.step === 'verify')?.summary,
    ).toMatch(/^1 disk\(s\) identical to backup \S+: read once on \S+@\S+ /);
    expect(differenceBetween(path.join(dir, `restored-${index}-2000.qcow2`), [first, latest][index]!)).toBe('');
    expect(restored.stdout + restored.stderr).not.toContain(readFileSync(keyFile, 'utf8').trim());
  }
  expect(recordedProcesses(db)).toEqual([]);
  expect(leasedPorts(db)).toEqual([]);
  expect(processesMentioning(dir)).toEqual([]);
}, 180_000);
