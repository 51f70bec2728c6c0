// Point-in-time restores through the real CLI: every point of a 3-point chain of a 2-disk VM,
// into qcow2 and raw files and into an NBD export full of old data, each equal byte for byte to
// the source as it was when that backup was taken.

import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { startQemuNbd, useNbdServers } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, type CliResult } from '../support/sendense-cli.js';
import { sha256 } from '../support/vm-disks.js';
import { DISK_KEYS, DISK_SIZES, backUpVm, type BackedUpVm } from './restore-chain.js';
import { rawSha256, restoredDifference, writeRestorePlan, type RestoreTarget } from './restore-plan.js';

const PORTS: [number, number] = [30000, 30039];
const ws = useRunWorkspace('restore-points-', { per: 'file' });
let vm: BackedUpVm;
let restores = 0;
const servers = useNbdServers();

beforeAll(async () => {
  vm = await backUpVm(ws.dir, { vm: 'rvm', ports: PORTS, points: 3 });
}, 120_000);

// Runs a restore plan of the test VM into a new directory; returns the CLI result and that directory.
async function restore(
  point: string,
  target: (out: string) => RestoreTarget,
  disks?: readonly number[],
): Promise<{ result: CliResult; out: string }> {
  restores += 1;
  const out = path.join(ws.dir, `restore-${restores}`);
  mkdirSync(out);
  const plan = writeRestorePlan(out, {
    name: `restore-${restores}`,
    vm: vm.vm,
    repository: vm.repository,
    ports: PORTS,
    point,
    disks,
    target: target(out),
  });
  const result = await sendenseRun([plan, '--db', vm.db]);
  return { result, out };
}

function expectSucceeded(result: CliResult): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  // Every qemu-nbd stopped and every port given back.
  expect(recordedProcesses(vm.db)).toEqual([]);
  expect(leasedPorts(vm.db)).toEqual([]);
}

const qcow2Files = (out: string): RestoreTarget => ({
  type: 'file',
  path: path.join(out, 'disk-{key}.qcow2'),
  format: 'qcow2',
});
const rawFiles = (out: string): RestoreTarget => ({
  type: 'file',
  path: path.join(out, 'disk-{key}.raw'),
  format: 'raw',
});

function expectQcow2Point(out: string, point: number): void {
  for (const key of DISK_KEYS) {
    const restored = path.join(out, `disk-${key}.qcow2`);
    expect(restoredDifference(vm.copies[point - 1]![key]!, restored, 'qcow2'), `disk ${key} of point ${point}`).toBe(
      '',
    );
  }
}

function expectRawPoint(out: string, point: number): void {
  for (const key of DISK_KEYS) {
    const restored = path.join(out, `disk-${key}.raw`);
    const copy = vm.copies[point - 1]![key]!;
    expect(restoredDifference(copy, restored, 'raw'), `disk ${key} of point ${point}`).toBe('');
    expect(sha256(restored), `sha256 of disk ${key} of point ${point}`).toBe(
      rawSha256(copy, path.join(out, `expected-${key}.raw`)),
    );
  }
}

describe('restore of a 3-point chain (full + 2 incrementals) of a 2-disk VM', () => {
  it('the points differ from each other (else the restores below would prove nothing)', () => {
    expect(vm.backups.map((backup) => backup.type)).toEqual(['full', 'incremental', 'incremental']);
    for (const key of DISK_KEYS) {
      expect(restoredDifference(vm.copies[0]![key]!, vm.copies[1]![key]!, 'qcow2')).not.toBe('');
      expect(restoredDifference(vm.copies[1]![key]!, vm.copies[2]![key]!, 'qcow2')).not.toBe('');
    }
  });

  for (const point of [1, 2, 3]) {
    it(`point ${point} by backup id into qcow2 files equals the source at that point`, async () => {
      const { result, out } = await restore(vm.backups[point - 1]!.id, qcow2Files);
      expectSucceeded(result);
      expectQcow2Point(out, point);
    });

    it(`point ${point} by backup id into raw files, byte for byte and sparse`, async () => {
      const { result, out } = await restore(vm.backups[point - 1]!.id, rawFiles);
      expectSucceeded(result);
      expectRawPoint(out, point);
      // Only data is written: the 64 MiB disk holds at most ~16 MiB of data at any point.
      const allocated = statSync(path.join(out, 'disk-2000.raw')).blocks * 512;
      expect(allocated).toBeLessThan(DISK_SIZES[2000]! / 2);
    });
  }

  it('a time between two backups restores the newest backup at or before it', async () => {
    const first = Date.parse(vm.backups[0]!.startedAt);
    const second = Date.parse(vm.backups[1]!.startedAt);
    expect(second).toBeGreaterThan(first + 1);
    const between = new Date(Math.floor((first + second) / 2)).toISOString();
    const { result, out } = await restore(between, qcow2Files);
    expectSucceeded(result);
    expect(result.stdout).toContain(vm.backups[0]!.id);
    expectQcow2Point(out, 1);
  });

  it('latest restores the last backup', async () => {
    const { result, out } = await restore('latest', rawFiles);
    expectSucceeded(result);
    expect(result.stdout).toContain(vm.backups[2]!.id);
    expectRawPoint(out, 3);
  });

  it('a subset of disks restores only those disks', async () => {
    const { result, out } = await restore(vm.backups[1]!.id, qcow2Files, [2001]);
    expectSucceeded(result);
    expect(restoredDifference(vm.copies[1]![2001]!, path.join(out, 'disk-2001.qcow2'), 'qcow2')).toBe('');
    expect(existsSync(path.join(out, 'disk-2000.qcow2'))).toBe(false);
  });

  it('into an NBD export full of old data: the holes of the backup are written as zeroes', async () => {
    // A middle point: its disk 2000 has a zeroed range, a discarded range and never-written holes.
    const disk = path.join(ws.dir, 'nbd-target.raw');
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', disk, String(DISK_SIZES[2000])]);
    execFileSync('qemu-io', ['-f', 'raw', '-c', `write -P 0xff 0 ${DISK_SIZES[2000]}`, disk]);
    const server = await startQemuNbd({ file: disk, format: 'raw', exportName: 'old-2000' });
    servers.push(server);
    const { result } = await restore(vm.backups[1]!.id, () => ({ type: 'nbd', url: server.url }), [2000]);
    expectSucceeded(result);
    await server.stop();
    expect(restoredDifference(vm.copies[1]![2000]!, disk, 'raw')).toBe('');
    expect(sha256(disk)).toBe(rawSha256(vm.copies[1]![2000]!, path.join(ws.dir, 'nbd-expected.raw')));
    rmSync(disk);
  });
});
