// The SSH link dropping mid-transfer (the node's sshd session processes killed): the run fails
// (not hangs) with a clear error, both sides are cleaned, the chain is intact and the next
// incremental is exact.

import path from 'node:path';
import { expect, it } from 'vitest';
import { waitForProcessGone } from '../support/processes.js';
import { descendantPids, leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { listBackups, parseEvents, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import {
  bitmapNames,
  createDisk,
  differenceBetween,
  keepCopy,
  portRangeForTestFile,
  sha256,
  writeDisk,
} from '../support/vm-disks.js';
import {
  nodeBlock,
  nodeProcessesMentioning,
  processesMentioning,
  useSshWorkspace,
  writeSshBackupPlan,
} from './ssh-node.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useSshWorkspace('ssh-drop-');

it('sshd sessions killed mid-transfer: fails saying so, nothing left on hub or node, the next incremental is exact', async () => {
  const { node, dir, db, repository } = ws;
  const disks = [
    { key: 2000, path: createDisk(path.join(dir, 'disk0.qcow2'), 1024 * MiB) },
    { key: 2001, path: createDisk(path.join(dir, 'disk1.qcow2'), 128 * MiB) },
  ];
  writeDisk(disks[0].path, ['write -P 0x41 0 8M', `write -P 0x42 ${1024 * MiB - 512} 512`]);
  writeDisk(disks[1].path, ['write -P 0x43 0 4M']);
  const plan = writeSshBackupPlan(dir, {
    name: 'ssh-drop',
    vm: 'dropvm',
    disks,
    repository,
    ports,
    node: nodeBlock(node),
  });
  const full = await sendenseRun([plan, '--db', db]);
  expect(full.exitCode, full.stderr).toBe(0);
  const [fullBackup] = await listBackups(db, 'dropvm');
  const parentSums = fullBackup!.disks.map((disk) => sha256(disk.file));
  const filesBefore = ws.repositoryFiles();
  const bitmapsBefore = disks.map((disk) => bitmapNames(disk.path));

  // Enough changed data (~700 MiB) that the kill lands mid-transfer.
  writeDisk(disks[0].path, ['write -P 0x51 16M 640M', 'write -z 4M 4M']);
  writeDisk(disks[1].path, ['write -P 0x52 8M 64M']);
  const cli = startSendenseRun([plan, '--db', db]);
  ws.seenPids.add(cli.pid);
  await cli.waitForEvent(
    (event) => event.type === 'progress' && event.bytesDone! > 0 && event.bytesDone! < event.bytesToDo!,
  );
  const hubChildren = descendantPids(cli.pid);
  hubChildren.forEach((pid) => ws.seenPids.add(pid));
  // On the node: the node transfer and its own read-only qemu-nbd on the source disks.
  const nodeSide = nodeProcessesMentioning(node, dir);
  nodeSide.forEach((pid) => ws.seenPids.add(pid));
  expect(nodeSide.length, 'the node transfer and its qemu-nbd are running on the node').toBeGreaterThanOrEqual(2);

  expect((await node.sshd.killSessions()).length).toBeGreaterThan(0);
  const end = await cli.exited;

  expect(end.exitCode, end.stderr).toBe(1);
  const runEnd = parseEvents(end.stdout).find((event) => event.type === 'run-end');
  expect(runEnd?.status).toBe('failed');
  expect(runEnd?.error).toContain(`${node.sshd.user}@${node.host}:${node.sshd.port}`);
  expect(runEnd?.error).toMatch(/connection lost|lost the connection/);
  expect(end.stderr).not.toMatch(/\n\s+at /);

  // Hub side: no qemu-nbd, no lease, no new file; node side: no node transfer, no qemu-nbd.
  for (const pid of [...hubChildren, ...nodeSide])
    expect(
      await waitForProcessGone(pid),
      `pid ${pid} (${nodeSide.includes(pid) ? 'node' : 'hub'}) is still running`,
    ).toBe(true);
  expect(processesMentioning(dir)).toEqual([]);
  expect(recordedProcesses(db)).toEqual([]);
  expect(leasedPorts(db)).toEqual([]);
  expect(ws.repositoryFiles()).toEqual(filesBefore);
  expect(fullBackup!.disks.map((disk) => sha256(disk.file))).toEqual(parentSums);
  expect(
    (await listBackups(db, 'dropvm')).filter((backup) => backup.status === 'complete').map((backup) => backup.id),
  ).toEqual([fullBackup!.id]);
  expect(disks.map((disk) => bitmapNames(disk.path))).toEqual(bitmapsBefore);

  // The sshd listener is still up: the next incremental covers everything since the full, exactly.
  const copies = disks.map((disk) => keepCopy(disk.path, path.join(dir, `p2-${disk.key}.qcow2`)));
  const next = await sendenseRun([plan, '--db', db]);
  expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
  const complete = (await listBackups(db, 'dropvm')).filter((backup) => backup.status === 'complete');
  expect(complete.map((backup) => backup.type)).toEqual(['full', 'incremental']);
  disks.forEach((disk, index) => {
    const file = complete[1]!.disks.find((d) => d.diskKey === disk.key)!.file;
    expect(differenceBetween(file, copies[index]!), `disk ${disk.key}`).toBe('');
  });
}, 90_000);
