// Restores through an SSH node, via the real CLI: the node transfer on the node reads the hub's
// read-only qemu-nbd through the tunnel and writes file targets there, verified (verify: true, each
// restored disk read once on the node), all disks at once or one at a time within a hub's slots.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { mostDisksAtOnce } from '../hub/disks-at-once.js';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { listBackups, parseEvents, sendenseRun } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import {
  nodeBlock,
  processesMentioning,
  useSshWorkspace,
  writeSshBackupPlan,
  writeSshRestorePlan,
} from './ssh-node.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useSshWorkspace('ssh-restore-');

it('restores the latest point (qcow2) and the first point by id (raw) to files on the node, each equal to the source then', async () => {
  const { node, dir, db, repository } = ws;
  const disks = [
    { key: 2000, path: createDisk(path.join(dir, 'disk0.qcow2'), 256 * MiB) },
    { key: 2001, path: createDisk(path.join(dir, 'disk1.qcow2'), 32 * MiB + 512) },
  ];
  writeDisk(disks[0].path, ['write -P 0x61 0 64M', 'write -P 0x62 200M 8M', `write -P 0x63 ${256 * MiB - 512} 512`]);
  writeDisk(disks[1].path, ['write -P 0x64 0 16M', `write -P 0x65 ${32 * MiB} 512`]);
  const backupPlan = writeSshBackupPlan(dir, {
    name: 'ssh-vm-backup',
    vm: 'rvm',
    disks,
    repository,
    ports,
    node: nodeBlock(node),
  });
  expect((await sendenseRun([backupPlan, '--db', db])).exitCode).toBe(0);
  const point1 = disks.map((disk) => keepCopy(disk.path, path.join(dir, `p1-${disk.key}.qcow2`)));
  // Changes the restore of point 2 must show, and that point 1's restore must not: zeroes, a discard.
  writeDisk(disks[0].path, ['write -P 0x66 100M 32M', 'write -z 0 4M', 'discard 200M 8M']);
  writeDisk(disks[1].path, ['write -z 0 1M', 'write -P 0x67 20M 1M']);
  expect((await sendenseRun([backupPlan, '--db', db])).exitCode).toBe(0);
  const point2 = disks.map((disk) => keepCopy(disk.path, path.join(dir, `p2-${disk.key}.qcow2`)));
  const backups = (await listBackups(db, 'rvm')).filter((backup) => backup.status === 'complete');
  expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental']);

  const latestPlan = writeSshRestorePlan(dir, {
    name: 'ssh-restore-latest',
    vm: 'rvm',
    repository,
    ports,
    node: nodeBlock(node),
    point: 'latest',
    targetPath: path.join(dir, 'restored', 'latest-{key}.qcow2'),
    format: 'qcow2',
  });
  const latest = await sendenseRun([latestPlan, '--db', db, '--json']);
  expect(latest.exitCode, `${latest.stdout}\n${latest.stderr}`).toBe(0);
  const verified = parseEvents(latest.stdout).find((event) => event.type === 'step-done' && event.step === 'verify');
  // Read once on the node against the manifests' digests (docs/how-it-works.md#a-verified-restore).
  expect(verified?.summary).toMatch(
    new RegExp(
      `^2 disk\\(s\\) identical to backup ${backups[1]!.id}: read once on \\S+@\\S+ \\(.+\\) and every range checked against the digests taken at backup time$`,
    ),
  );
  disks.forEach((disk, index) => {
    expect(
      differenceBetween(path.join(dir, 'restored', `latest-${disk.key}.qcow2`), point2[index]!),
      `latest, disk ${disk.key}`,
    ).toBe('');
  });

  const firstPlan = writeSshRestorePlan(dir, {
    name: 'ssh-restore-first',
    vm: 'rvm',
    repository,
    ports,
    node: nodeBlock(node),
    point: backups[0]!.id,
    targetPath: path.join(dir, 'restored', 'first-{key}.raw'),
    format: 'raw',
  });
  // One disk at a time (a hub of one slot): each disk's qemu-nbd starts with its turn and stops
  // after it, and verify serves each again for its comparison.
  const oneAtATime = path.join(dir, 'hub-one-slot.yaml');
  writeFileSync(oneAtATime, `maxParallelDisks: 1\nnbd: { ports: ${ports[0]}-${ports[1]} }\n`);
  const first = await sendenseRun([firstPlan, '--db', db, '--json', '--hub-config', oneAtATime]);
  expect(first.exitCode, `${first.stdout}\n${first.stderr}`).toBe(0);
  const firstEvents = parseEvents(first.stdout);
  expect(mostDisksAtOnce(firstEvents)).toBe(1);
  expect(firstEvents.find((event) => event.type === 'step-done' && event.step === 'verify')?.summary).toMatch(
    /^2 disk\(s\) identical to backup /,
  );
  disks.forEach((disk, index) => {
    expect(
      differenceBetween(point1[index]!, path.join(dir, 'restored', `first-${disk.key}.raw`), 'raw'),
      `first, disk ${disk.key}`,
    ).toBe('');
  });
  expect(recordedProcesses(db)).toEqual([]);
  expect(leasedPorts(db)).toEqual([]);
  expect(processesMentioning(dir)).toEqual([]);
}, 90_000);
