// Backups of a 2-disk VM on a node reached over SSH, through the real CLI: the node transfer runs
// on the node and pushes through the tunnel into the hub's qemu-nbd; every point is exact.

import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { listBackups, parseEvents, sendenseRun, startSendenseRun, type BackupRow } from '../support/sendense-cli.js';
import {
  bitmapNames,
  createDisk,
  differenceBetween,
  keepCopy,
  portRangeForTestFile,
  writeDisk,
} from '../support/vm-disks.js';
import { nodeBlock, nodeProcessesMentioning, useSshWorkspace, writeSshBackupPlan } from './ssh-node.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useSshWorkspace('ssh-backup-');

function fileOf(backup: BackupRow, key: number): string {
  return backup.disks.find((disk) => disk.diskKey === key)!.file;
}

it('full then incremental of a 2-disk VM through the tunnel: each point equals the source at that point', async () => {
  const { node, dir, db, repository } = ws;
  const disks = [
    { key: 2000, path: createDisk(path.join(dir, 'disk0.qcow2'), 512 * MiB) },
    { key: 2001, path: createDisk(path.join(dir, 'disk1.qcow2'), 64 * MiB + 4096) },
  ];
  writeDisk(disks[0].path, ['write -P 0x11 0 96M', 'write -P 0x12 300M 8M', `write -P 0x13 ${512 * MiB - 512} 512`]);
  writeDisk(disks[1].path, ['write -P 0x21 0 32M', `write -P 0x22 ${64 * MiB} 4096`]);
  const plan = writeSshBackupPlan(dir, {
    name: 'ssh-chain',
    vm: 'sshvm',
    disks,
    repository,
    ports,
    node: nodeBlock(node),
  });

  const full = await sendenseRun([plan, '--db', db, '--json']);
  expect(full.exitCode, `${full.stdout}\n${full.stderr}`).toBe(0);
  const point1 = disks.map((disk) => keepCopy(disk.path, path.join(dir, `p1-${disk.key}.qcow2`)));
  const tunnel = parseEvents(full.stdout).find((event) => event.type === 'step-done' && event.step === 'open-tunnel');
  // Each disk's qemu-nbd on the hub listens on a Unix socket, reached from a Unix socket in a private
  // directory of the node's (docs/how-it-works.md#the-data-path): no port any user there could open.
  const hubSocket = `${tmpdir()}/sendense-serve-[^/]+/disk-20\\d\\d\\.sock`;
  const forwarded = [
    ...(tunnel?.summary ?? '').matchAll(
      new RegExp(`node (/\\S+/sendense-tunnel-[^/]+)/\\d-disk-20\\d\\d\\.sock -> hub ${hubSocket}`, 'g'),
    ),
  ].map((match) => match[1]);
  expect(forwarded, tunnel?.summary).toHaveLength(2);
  expect(tunnel?.summary).not.toMatch(/127\.0\.0\.1/);
  // Removed from the node with the tunnel.
  for (const nodeDir of forwarded) expect(existsSync(nodeDir!), nodeDir).toBe(false);

  // After the full: new data, a range overwritten with zeroes, a discard, the last sector.
  writeDisk(disks[0].path, [
    'write -P 0x14 200M 64M',
    'write -z 8M 8M',
    'discard 300M 4M',
    `write -P 0x15 ${512 * MiB - 512} 512`,
  ]);
  writeDisk(disks[1].path, ['write -P 0x23 1M 1M', `write -z ${64 * MiB} 4096`]);
  const incremental = await sendenseRun([plan, '--db', db]);
  expect(incremental.exitCode, `${incremental.stdout}\n${incremental.stderr}`).toBe(0);
  const point2 = disks.map((disk) => keepCopy(disk.path, path.join(dir, `p2-${disk.key}.qcow2`)));

  const backups = (await listBackups(db, 'sshvm')).filter((backup) => backup.status === 'complete');
  expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental']);
  disks.forEach((disk, index) => {
    expect(differenceBetween(fileOf(backups[0], disk.key), point1[index]), `point 1, disk ${disk.key}`).toBe('');
    expect(differenceBetween(fileOf(backups[1], disk.key), point2[index]), `point 2, disk ${disk.key}`).toBe('');
  });
  // The incremental moved the changed blocks only, not the whole disk again.
  const bytes = backups[1].disks.find((disk) => disk.diskKey === 2000)!.bytes!;
  expect(bytes).toBeLessThan(100 * MiB);
  // Only the latest backup's bitmap stays on the source; nothing held, nothing left on the node.
  expect(disks.map((disk) => bitmapNames(disk.path))).toEqual(
    disks.map((disk) => [backups[1].disks.find((d) => d.diskKey === disk.key)!.changeId]),
  );
  expect(recordedProcesses(db)).toEqual([]);
  expect(leasedPorts(db)).toEqual([]);
  expect(nodeProcessesMentioning(node, dir)).toEqual([]);
}, 60_000);

// Whether a Unix socket refuses connections (bound by no one any more), looked at every 100 ms for 30 s.
async function refusesSoon(socket: string): Promise<boolean> {
  for (let i = 0; i < 300; i++) {
    const refused = await new Promise<boolean>((resolve) => {
      const probe = connect({ path: socket });
      probe.once('connect', () => {
        probe.destroy();
        resolve(false);
      });
      probe.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    if (refused) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

// What the next test made or found outside its workspace, removed even when it fails.
const outside: { dirs: string[]; listener?: Server } = { dirs: [] };
afterEach(() => {
  outside.listener?.close();
  outside.listener = undefined;
  for (const made of outside.dirs.splice(0)) rmSync(made, { recursive: true, force: true });
});

it('a hub killed outright leaves its tunnel directory on the node; the next run there removes it, not one still listened on', async () => {
  const { node, dir, db, repository } = ws;
  const disks = [{ key: 2000, path: createDisk(path.join(dir, 'kill0.qcow2'), 256 * MiB) }];
  writeDisk(disks[0].path, ['write -P 0x31 0 64M']);
  const plan = writeSshBackupPlan(dir, {
    name: 'ssh-kill',
    vm: 'sshkill',
    disks,
    repository,
    ports,
    node: nodeBlock(node),
  });
  const full = await sendenseRun([plan, '--db', db]);
  expect(full.exitCode, `${full.stdout}\n${full.stderr}`).toBe(0);

  writeDisk(disks[0].path, ['write -P 0x32 64M 160M']);
  const run = startSendenseRun([plan, '--db', db]);
  ws.seenPids.add(run.pid);
  const tunnel = await run.waitForEvent((event) => event.type === 'step-done' && event.step === 'open-tunnel');
  const stale = /node (\/\S+\/sendense-tunnel-[^/]+)\/(\S+\.sock) ->/.exec(tunnel.summary ?? '');
  expect(stale, tunnel.summary).not.toBeNull();
  const [, staleDir, staleSocket] = stale!;
  outside.dirs.push(staleDir!);
  process.kill(run.pid, 'SIGKILL');
  expect((await run.exited).signal, 'the run ended before the kill').toBe('SIGKILL');
  // sshd stops listening once the hub's connection is gone; the directory and its socket stay.
  expect(await refusesSoon(path.join(staleDir!, staleSocket!))).toBe(true);
  expect(readdirSync(staleDir!)).toEqual([staleSocket]);
  const doctor = await sendenseRun(['doctor', '--db', db]);
  expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
  expect(existsSync(staleDir!), 'doctor knows nothing of the node side').toBe(true);

  // Another tunnel's directory, still listened on (here by this test), of the same age.
  const live = mkdtempSync(path.join(tmpdir(), 'sendense-tunnel-'));
  outside.dirs.push(live);
  outside.listener = createServer().listen(path.join(live, '0-disk-2000.sock'));
  await once(outside.listener, 'listening');
  // A minute on: what a directory of the node's must be left unchanged for to be judged stale.
  const old = new Date(Date.now() - 120_000);
  for (const made of [staleDir!, live]) utimesSync(made, old, old);
  const next = await sendenseRun([plan, '--db', db]);
  expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
  expect(existsSync(staleDir!), `${staleDir} after the next run`).toBe(false);
  expect(readdirSync(live)).toEqual(['0-disk-2000.sock']);
  const point = keepCopy(disks[0].path, path.join(dir, 'kill-after.qcow2'));
  const backups = (await listBackups(db, 'sshkill')).filter((backup) => backup.status === 'complete');
  expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental']);
  expect(differenceBetween(fileOf(backups[1]!, 2000), point)).toBe('');
  expect(recordedProcesses(db)).toEqual([]);
  expect(leasedPorts(db)).toEqual([]);
}, 120_000);
