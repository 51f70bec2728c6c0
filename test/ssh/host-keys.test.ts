// A node whose host key is unknown or has changed is refused before anything is taken: exit 1,
// one line with the fingerprint and how to accept it, and nothing left behind on either side.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { bitmapNames, createDisk, portRangeForTestFile, sha256, writeDisk } from '../support/vm-disks.js';
import { nodeBlock, processesMentioning, useSshWorkspace, writeSshBackupPlan } from './ssh-node.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useSshWorkspace('ssh-hostkey-');

// "SHA256:..." of the node's host key, as `ssh-keygen -l` prints it.
function hostFingerprint(): string {
  return execFileSync('ssh-keygen', ['-l', '-f', path.join(ws.node.sshd.dir, 'host_ed25519.pub')], {
    encoding: 'utf8',
  }).split(' ')[1]!;
}

function vmDisks() {
  const { dir } = ws;
  const disks = [
    { key: 2000, path: createDisk(path.join(dir, 'disk0.qcow2'), 32 * MiB) },
    { key: 2001, path: createDisk(path.join(dir, 'disk1.qcow2'), 16 * MiB) },
  ];
  writeDisk(disks[0].path, ['write -P 0x31 0 4M']);
  writeDisk(disks[1].path, ['write -P 0x32 1M 1M']);
  return disks;
}

function expectNothingLeft(): void {
  const { dir, db } = ws;
  expect(recordedProcesses(db)).toEqual([]);
  expect(leasedPorts(db)).toEqual([]);
  expect(processesMentioning(dir)).toEqual([]);
}

it('an unknown host key: exit 1 with the fingerprint and the ssh-keyscan line to accept it, nothing taken', async () => {
  const { node, dir, db, repository } = ws;
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[${node.host}]:${node.sshd.port + 1} ${node.sshd.hostPublicKey}\n`);
  const disks = vmDisks();
  const plan = writeSshBackupPlan(dir, {
    name: 'unknown-key',
    vm: 'hkvm',
    disks,
    repository,
    ports,
    node: nodeBlock(node, knownHosts),
  });

  const result = await sendenseRun([plan, '--db', db]);
  expect(result.exitCode, result.stderr).toBe(1);
  const [errorLine] = result.stderr.split('\n').filter((line) => line.includes('host key'));
  expect(errorLine, result.stderr).toContain(`host key of [${node.host}]:${node.sshd.port} is not in ${knownHosts}`);
  expect(errorLine).toContain(hostFingerprint());
  expect(errorLine).toContain(`ssh-keyscan -p ${node.sshd.port} ${node.host} >> ${knownHosts}`);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expectNothingLeft();
  expect(ws.repositoryFiles()).toEqual([]);
  expect(disks.map((disk) => bitmapNames(disk.path))).toEqual([[], []]);
  expect(await listBackups(db)).toEqual([]);
});

it('a changed host key: exit 1 saying so with the fingerprint and the known_hosts line, the chain untouched', async () => {
  const { node, dir, db, repository } = ws;
  const disks = vmDisks();
  const good = writeSshBackupPlan(dir, {
    name: 'good-key',
    vm: 'hkvm',
    disks,
    repository,
    ports,
    node: nodeBlock(node),
  });
  const full = await sendenseRun([good, '--db', db]);
  expect(full.exitCode, full.stderr).toBe(0);
  const filesBefore = ws.repositoryFiles();
  const sumsBefore = filesBefore.map((file) => sha256(path.join(repository, file)));
  const bitmapsBefore = disks.map((disk) => bitmapNames(disk.path));
  writeDisk(disks[0].path, ['write -P 0x33 8M 1M']);

  // Another key for the same [host]:port on line 2, as if the node had been replaced.
  const otherKey = path.join(dir, 'other_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', otherKey]);
  const otherPublic = execFileSync('cat', [`${otherKey}.pub`], { encoding: 'utf8' })
    .trim()
    .split(' ')
    .slice(0, 2)
    .join(' ');
  const knownHosts = path.join(dir, 'known_hosts_changed');
  writeFileSync(knownHosts, `# node\n[${node.host}]:${node.sshd.port} ${otherPublic}\n`);
  const plan = writeSshBackupPlan(dir, {
    name: 'changed-key',
    vm: 'hkvm',
    disks,
    repository,
    ports,
    node: nodeBlock(node, knownHosts),
  });

  const result = await sendenseRun([plan, '--db', db]);
  expect(result.exitCode, result.stderr).toBe(1);
  const [errorLine] = result.stderr.split('\n').filter((line) => line.includes('HOST KEY'));
  expect(errorLine, result.stderr).toContain(`HOST KEY OF [${node.host}]:${node.sshd.port} HAS CHANGED`);
  expect(errorLine).toContain(hostFingerprint());
  expect(errorLine).toContain(`${knownHosts} line 2`);
  expect(errorLine).toMatch(/remove that line and add the new key/);
  expectNothingLeft();
  expect(ws.repositoryFiles()).toEqual(filesBefore);
  expect(filesBefore.map((file) => sha256(path.join(repository, file)))).toEqual(sumsBefore);
  expect(disks.map((disk) => bitmapNames(disk.path))).toEqual(bitmapsBefore);
  expect((await listBackups(db, 'hkvm')).map((backup) => backup.type)).toEqual(['full']);
  const history = await sendenseRun(['history', '--db', db, '--json']);
  expect(history.stdout).toContain('HAS CHANGED');
});
