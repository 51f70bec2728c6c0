// A backup plan with `repository.compression: zstd` through the real CLI (docs/encryption.md#compression):
// the new files are written through QEMU's compress filter, which takes whole clusters, each once;
// a source whose data, zeroes and dirty ranges sit at unaligned 4 KiB places still gives a full
// and an incremental that restore equal to the source at each point, with compressed clusters.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/process/process-identity.js';
import { qemuImg } from '../support/images.js';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, stoppedQemuNbdPids, writePlan, type CliResult } from '../support/sendense-cli.js';
import { differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { restoredDifference, writeRestorePlan } from '../restore/restore-plan.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('engine-compressed-');

function expectSucceeded(result: CliResult): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  expect(recordedProcesses(ws.db)).toEqual([]);
  expect(leasedPorts(ws.db)).toEqual([]);
}

function compressedClusters(file: string): number {
  return (
    (JSON.parse(qemuImg('check', '--output=json', file)) as { 'compressed-clusters'?: number })[
      'compressed-clusters'
    ] ?? 0
  );
}

describe('a backup chain in a zstd repository', () => {
  it('a full and an incremental of unaligned writes restore equal to the source, their files compressed', async () => {
    // 4 KiB clusters: the disk's allocation and its dirty bitmap (4 KiB granularity) are finer
    // than the backup files' 64 KiB clusters.
    const disk = path.join(ws.dir, 'disk0.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', disk, String(32 * MiB));
    writeDisk(disk, [
      'write -P 0x11 4k 4k',
      'write -P 0x12 12k 4k',
      'write -P 0x13 60k 72k',
      'write -P 0x14 1M 3M',
      'write -z 1100k 20k',
      'write -P 0x15 20M 1M',
      `write -P 0x16 ${32 * MiB - 512} 512`,
    ]);
    const plan = writePlan(ws.dir, {
      name: 'zstd',
      vm: 'zvm',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      compression: 'zstd',
      ports,
    });

    const first = await sendenseRun([plan, '--db', ws.db]);
    expectSucceeded(first);
    expect(stoppedQemuNbdPids(first.stdout).every((pid) => !isProcessAlive(pid))).toBe(true);
    const point1 = keepCopy(disk, path.join(ws.dir, 'p1.qcow2'));

    // Data beside zeroes in one cluster, two writes in one cluster, zeroes inside data, whole
    // clusters of zeroes, a discard, a write across a cluster boundary, the last sector.
    writeDisk(disk, [
      'write -P 0x21 68k 4k',
      'write -z 72k 4k',
      'write -P 0x22 200k 4k',
      'write -P 0x23 208k 4k',
      'write -z 1200k 20k',
      'write -z 2M 256k',
      'discard 3076k 64k',
      'write -P 0x24 8188k 8k',
      `write -P 0x25 ${32 * MiB - 512} 512`,
    ]);
    const second = await sendenseRun([plan, '--db', ws.db]);
    expectSucceeded(second);
    const point2 = keepCopy(disk, path.join(ws.dir, 'p2.qcow2'));
    expect(differenceBetween(point1, point2, 'qcow2'), 'the points differ').not.toBe('');

    const backups = await listBackups(ws.db, 'zvm');
    expect(backups.map((backup) => [backup.type, backup.status, backup.restorable])).toEqual([
      ['full', 'complete', true],
      ['incremental', 'complete', true],
    ]);
    const files = backups.map((backup) => backup.disks[0]!.file);
    expect(differenceBetween(files[0]!, point1)).toBe('');
    expect(differenceBetween(files[1]!, point2)).toBe('');
    for (const file of files) {
      expect(compressedClusters(file), file).toBeGreaterThan(0);
      expect(qemuImg('info', '--output=json', file)).toMatch(/"compression-type": "zstd"/);
    }
    // The incremental holds the dirty clusters only.
    expect(backups[1]!.disks[0]!.bytes).toBeLessThan(2 * MiB);
    // The manifests (the ranges the transfer says it wrote, with digests) match the files.
    const verified = await sendenseRun(['verify', '--vm', 'zvm', '--db', ws.db, '--json']);
    expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
    expect(verified.stdout).toMatch(/"type":"summary","checked":2,"damaged":\[\]/);

    // Each point restored through the real CLI equals the source as it was.
    for (const [index, copy] of [point1, point2].entries()) {
      const out = path.join(ws.dir, `restore-${index + 1}`);
      mkdirSync(out);
      const restorePlan = writeRestorePlan(out, {
        name: `restore-${index + 1}`,
        vm: 'zvm',
        repository: ws.repository,
        ports,
        point: backups[index]!.id,
        target: { type: 'file', path: path.join(out, 'disk-{key}.qcow2'), format: 'qcow2' },
      });
      expectSucceeded(await sendenseRun([restorePlan, '--db', ws.db]));
      expect(restoredDifference(copy, path.join(out, 'disk-2000.qcow2'), 'qcow2'), `point ${index + 1}`).toBe('');
    }
  });

  it('a disk whose size is not whole clusters is stored uncompressed (QEMU refuses the filter there), and restores exactly', async () => {
    const disk = path.join(ws.dir, 'odd.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', disk, String(32 * MiB + 512));
    writeDisk(disk, ['write -P 0x31 0 2M', `write -P 0x32 ${32 * MiB} 512`]);
    const plan = writePlan(ws.dir, {
      name: 'zstd-odd',
      vm: 'oddvm',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      compression: 'zstd',
      ports,
    });
    expectSucceeded(await sendenseRun([plan, '--db', ws.db]));
    const [backup] = await listBackups(ws.db, 'oddvm');
    const file = backup!.disks[0]!.file;
    expect(differenceBetween(file, disk)).toBe('');
    expect(compressedClusters(file)).toBe(0);
  });
});
