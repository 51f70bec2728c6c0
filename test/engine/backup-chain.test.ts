// A full and incrementals through the real CLI: every backup point, read through its chain,
// equals the source disk as it was at that point (qemu-img compare), whatever changed in between.

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/process/process-identity.js';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import {
  listBackups,
  sendenseRun,
  stoppedQemuNbdPids,
  writePlan,
  type BackupRow,
  type CliResult,
} from '../support/sendense-cli.js';
import {
  bitmapNames,
  createDisk,
  differenceBetween,
  imageInfo,
  keepCopy,
  portRangeForTestFile,
  writeDisk,
} from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('engine-chain-');

// The run succeeded and every qemu-nbd it started on the hub is gone: one per disk for an
// incremental, none for a full, whose new files qemu-img writes (docs/how-it-works.md#a-local-full-backup).
function expectSucceeded(result: CliResult, served = 0): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  const pids = stoppedQemuNbdPids(result.stdout);
  expect(pids).toHaveLength(served);
  for (const pid of pids) expect(isProcessAlive(pid), `qemu-nbd ${pid}`).toBe(false);
}

function expectNothingHeld(): void {
  expect(recordedProcesses(ws.db)).toEqual([]);
  expect(leasedPorts(ws.db)).toEqual([]);
}

function diskOf(backup: BackupRow, key: number) {
  const disk = backup.disks.find((candidate) => candidate.diskKey === key);
  expect(disk, `disk ${key} in backup ${backup.id}`).toBeDefined();
  return disk!;
}

describe('backup chain of a qemu source', () => {
  it('a 3-disk VM: full then two incrementals, each point equal to the source at that point', async () => {
    // 2000: zeroed and discarded ranges and the last sector; 2001: a size not a multiple of 64 KiB;
    // 2002: never changes after the full.
    const oddSize = 10 * MiB + Math.ceil(12345 / 512) * 512;
    const disks = [
      { key: 2000, path: createDisk(path.join(ws.dir, 'disk0.qcow2'), 64 * MiB) },
      { key: 2001, path: createDisk(path.join(ws.dir, 'disk1.qcow2'), oddSize) },
      { key: 2002, path: createDisk(path.join(ws.dir, 'disk2.qcow2'), 32 * MiB) },
    ];
    writeDisk(disks[0].path, ['write -P 0x11 0 8M', 'write -P 0x12 30M 4M', `write -P 0x13 ${64 * MiB - 512} 512`]);
    writeDisk(disks[1].path, ['write -P 0x21 0 10M', `write -P 0x22 ${oddSize - 512} 512`]);
    writeDisk(disks[2].path, ['write -P 0x31 1M 3M']);
    const plan = writePlan(ws.dir, { name: 'three-disks', vm: 'vm3', disks, repository: ws.repository, ports });

    const copies: Record<string, string>[] = [];
    const keepPoint = (point: number) =>
      copies.push(
        Object.fromEntries(
          disks.map((disk) => [disk.key, keepCopy(disk.path, path.join(ws.dir, `p${point}-${disk.key}.qcow2`))]),
        ),
      );

    expectSucceeded(await sendenseRun([plan, '--db', ws.db]));
    keepPoint(1);
    expectNothingHeld();

    // After the full: a range overwritten with zeroes, a discarded range, the last sector, odd-size tail.
    writeDisk(disks[0].path, [
      'write -z 2M 2M',
      'discard 30M 4M',
      `write -P 0x14 ${64 * MiB - 512} 512`,
      'write -P 0x15 40M 1M',
    ]);
    writeDisk(disks[1].path, ['write -P 0x23 5M 64K', `write -P 0x24 ${oddSize - 512} 512`]);
    expectSucceeded(await sendenseRun([plan, '--db', ws.db]), 3);
    keepPoint(2);
    expectNothingHeld();

    writeDisk(disks[0].path, ['write -z 40M 512K', 'write -P 0x16 0 4K']);
    writeDisk(disks[1].path, ['write -z 0 1M', `write -z ${oddSize - 4096} 4096`]);
    expectSucceeded(await sendenseRun([plan, '--db', ws.db]), 3);
    keepPoint(3);
    expectNothingHeld();

    const backups = await listBackups(ws.db, 'vm3');
    expect(backups.map((backup) => [backup.type, backup.status, backup.restorable])).toEqual([
      ['full', 'complete', true],
      ['incremental', 'complete', true],
      ['incremental', 'complete', true],
    ]);
    expect(new Set(backups.map((backup) => backup.chainId)).size).toBe(1);
    expect(backups[1].parentId).toBe(backups[0].id);
    expect(backups[2].parentId).toBe(backups[1].id);

    // Every point, read through its chain, equals the source as kept at that point.
    backups.forEach((backup, index) => {
      for (const disk of disks) {
        const file = diskOf(backup, disk.key).file;
        expect(differenceBetween(file, copies[index][disk.key]), `point ${index + 1} disk ${disk.key}`).toBe('');
      }
    });

    // The points really differ, so the comparisons above can fail.
    expect(differenceBetween(diskOf(backups[1], 2000).file, copies[0][2000])).not.toBe('');
    expect(differenceBetween(diskOf(backups[2], 2001).file, copies[1][2001])).not.toBe('');

    // The disk that did not change: its incrementals copied only the bitmap's end mark, its last 64 KiB
    // (docs/how-it-works.md#change-tracking-by-source).
    expect(diskOf(backups[1], 2002).bytes).toBe(64 * 1024);
    expect(diskOf(backups[2], 2002).bytes).toBe(64 * 1024);
    // An incremental copies only the dirty clusters, not the disk.
    expect(diskOf(backups[1], 2000).bytes).toBeGreaterThan(0);
    expect(diskOf(backups[1], 2000).bytes).toBeLessThan(16 * MiB);

    // Overlays name their parent by a relative path, so the repository can move.
    for (const disk of backups[2].disks) {
      const backing = imageInfo(disk.file)['backing-filename'];
      expect(backing).toBeDefined();
      expect(path.isAbsolute(backing!)).toBe(false);
    }
    // Each source disk keeps only the bitmap of the latest backup.
    for (const disk of disks) {
      expect(bitmapNames(disk.path)).toEqual([diskOf(backups[2], disk.key).changeId]);
    }
  });

  it('a raw source: a full each time, and the incremental plan says why', async () => {
    const file = createDisk(path.join(ws.dir, 'raw0.img'), 16 * MiB, 'raw');
    writeDisk(file, ['write -P 0x41 0 4M', `write -P 0x42 ${16 * MiB - 512} 512`], 'raw');
    const plan = writePlan(ws.dir, {
      name: 'raw-vm',
      vm: 'rawvm',
      disks: [{ key: 2000, path: file, format: 'raw' }],
      repository: ws.repository,
      ports,
    });

    const first = await sendenseRun([plan, '--db', ws.db]);
    expectSucceeded(first);
    const point1 = keepCopy(file, path.join(ws.dir, 'p1.img'));

    writeDisk(file, ['write -P 0x43 8M 1M', 'write -z 0 1M'], 'raw');
    const second = await sendenseRun([plan, '--db', ws.db]);
    expectSucceeded(second);
    const point2 = keepCopy(file, path.join(ws.dir, 'p2.img'));
    // One warning naming the disk and why only a full is possible.
    expect(second.stderr).toMatch(/warning: .*disk 2000.*raw/);
    expectNothingHeld();

    const backups = await listBackups(ws.db, 'rawvm');
    expect(backups.map((backup) => backup.type)).toEqual(['full', 'full']);
    expect(backups[0].chainId).not.toBe(backups[1].chainId);
    expect(differenceBetween(diskOf(backups[0], 2000).file, point1, 'raw')).toBe('');
    expect(differenceBetween(diskOf(backups[1], 2000).file, point2, 'raw')).toBe('');
  });

  it('a bitmap left inconsistent by a crash: a full into a new chain with a warning, never a guessed incremental', async () => {
    const file = createDisk(path.join(ws.dir, 'crash0.qcow2'), 32 * MiB);
    writeDisk(file, ['write -P 0x81 0 4M']);
    const plan = writePlan(ws.dir, {
      name: 'crash',
      vm: 'crashvm',
      disks: [{ key: 2000, path: file }],
      repository: ws.repository,
      ports,
    });
    expectSucceeded(await sendenseRun([plan, '--db', ws.db]));

    // A writer killed while the image is open leaves the bitmap flagged in-use (inconsistent).
    const crash = spawnSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x82 8M 1M', '-c', 'sigraise 9', file]);
    expect(crash.signal).toBe('SIGKILL');
    const point2 = keepCopy(file, path.join(ws.dir, 'p2.qcow2'));
    const second = await sendenseRun([plan, '--db', ws.db]);
    expectSucceeded(second);
    expect(second.stderr).toMatch(
      /warning: .*dirty bitmap '.*' on .*crash0\.qcow2 is marked inconsistent.*full backup into a new chain/,
    );

    const backups = await listBackups(ws.db, 'crashvm');
    expect(backups.map((backup) => backup.type)).toEqual(['full', 'full']);
    expect(backups[1].chainId).not.toBe(backups[0].chainId);
    expect(differenceBetween(diskOf(backups[1], 2000).file, point2)).toBe('');
    // The inconsistent bitmap is gone; only the new chain's bitmap tracks the disk.
    expect(bitmapNames(file)).toEqual([diskOf(backups[1], 2000).changeId]);
  });

  it('maxChainLength: the run after a full chain starts a new chain with a full', async () => {
    const file = createDisk(path.join(ws.dir, 'short0.qcow2'), 16 * MiB);
    writeDisk(file, ['write -P 0x91 0 1M']);
    const plan = writePlan(ws.dir, {
      name: 'short',
      vm: 'shortvm',
      disks: [{ key: 2000, path: file }],
      repository: ws.repository,
      ports,
      incremental: { maxChainLength: 2 },
    });
    const copies: string[] = [];
    for (let point = 1; point <= 3; point++) {
      writeDisk(file, [`write -P 0x9${point + 1} ${point}M 64K`]);
      expectSucceeded(await sendenseRun([plan, '--db', ws.db]), point === 2 ? 1 : 0);
      copies.push(keepCopy(file, path.join(ws.dir, `short-p${point}.qcow2`)));
    }
    const backups = await listBackups(ws.db, 'shortvm');
    expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental', 'full']);
    expect(backups[2].chainId).toBe(backups[2].id);
    backups.forEach((backup, index) =>
      expect(differenceBetween(diskOf(backup, 2000).file, copies[index]), `point ${index + 1}`).toBe(''),
    );
    expect(bitmapNames(file)).toEqual([diskOf(backups[2], 2000).changeId]);
  });
});
