// A qemu source shrunk and grown back between two backups (docs/how-it-works.md#change-tracking-by-source):
// qemu clears a dirty bitmap's bits past the cut and adds clean ones on the grow, so the bitmap
// says nothing changed where the disk now reads zeroes. The bitmap's mark at the disk's last byte
// is gone then, and the next incremental copies every block, with a warning: every point, read
// through its chain and restored with verify, equals the source at that point.

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { stringify } from 'yaml';
import { imagesEqual } from '../support/images.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('engine-shrink-grow-');

async function backUp(plan: string): Promise<string> {
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout + result.stderr;
}

async function restoreVerified(point: string, name: string): Promise<string> {
  const plan = path.join(ws.dir, `${name}.yaml`);
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'restore',
      name,
      vm: { name: 'shrinkvm' },
      repository: { path: ws.repository },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
      restore: {
        point,
        target: { type: 'file', path: path.join(ws.dir, `${name}-{key}.qcow2`), format: 'qcow2' },
        verify: true,
      },
    }),
  );
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return path.join(ws.dir, `${name}-2000.qcow2`);
}

it('shrunk 64M -> 32M and grown back between backups: the next incremental copies every block, warned; the one after only what changed; every point exact', async () => {
  const disk = createDisk(path.join(ws.dir, 'disk.qcow2'), 64 * MiB);
  writeDisk(disk, ['write -P 0x11 0 64M']);
  const plan = writePlan(ws.dir, {
    name: 'shrink-grow',
    vm: 'shrinkvm',
    disks: [{ key: 2000, path: disk }],
    repository: ws.repository,
    ports,
  });
  await backUp(plan);
  const copies = [keepCopy(disk, path.join(ws.dir, 'p1.qcow2'))];

  // Past 32M the disk now reads zeroes; the bitmap records none of it.
  execFileSync('qemu-img', ['resize', '-q', '--shrink', disk, String(32 * MiB)]);
  execFileSync('qemu-img', ['resize', '-q', disk, String(64 * MiB)]);
  writeDisk(disk, ['write -P 0x22 1M 1M']);
  const second = await backUp(plan);
  expect(second).toMatch(
    /disk 2000: the disk shrank since dirty bitmap '[^']+' was added \(its mark at byte 67108863 is gone\): every block is copied/,
  );
  copies.push(keepCopy(disk, path.join(ws.dir, 'p2.qcow2')));

  // The new bitmap has its own mark: the next incremental copies only what changed.
  writeDisk(disk, ['write -P 0x33 50M 1M', 'write -P 0x34 3M 64K']);
  const third = await backUp(plan);
  expect(third).not.toMatch(/shrank/);
  copies.push(keepCopy(disk, path.join(ws.dir, 'p3.qcow2')));

  const backups = await listBackups(ws.db, 'shrinkvm');
  expect(backups.map((backup) => [backup.type, backup.status])).toEqual([
    ['full', 'complete'],
    ['incremental', 'complete'],
    ['incremental', 'complete'],
  ]);
  // The third read only its changes (and the mark's block), not the disk.
  expect(backups[2]!.disks[0]!.bytes).toBeLessThan(4 * MiB);
  for (const [index, backup] of backups.entries()) {
    const file = backup.disks[0]!.file;
    expect(differenceBetween(file, copies[index]!), `point ${index + 1} read through its chain`).toBe('');
    expect(
      differenceBetween(await restoreVerified(backup.id, `restored-${index + 1}`), copies[index]!),
      `point ${index + 1} restored`,
    ).toBe('');
  }
}, 240_000);

it('a VM of three disks of two sizes, two shrunk and grown back: each warned at its own last byte, the third not; every point exact', async () => {
  const sizes = { 2000: 32 * MiB, 2001: 32 * MiB, 2002: 48 * MiB };
  const disks = Object.entries(sizes).map(([key, size]) => {
    const file = createDisk(path.join(ws.dir, `multi-${key}.qcow2`), size);
    writeDisk(file, [`write -P 0x4${key.at(-1)} 0 ${size}`]);
    return { key: Number(key), path: file };
  });
  const plan = writePlan(ws.dir, { name: 'shrink-multi', vm: 'multivm', disks, repository: ws.repository, ports });
  await backUp(plan);
  const copies = [disks.map((disk) => keepCopy(disk.path, path.join(ws.dir, `m1-${disk.key}.qcow2`)))];

  for (const disk of disks.slice(1)) {
    const size = sizes[disk.key as keyof typeof sizes];
    execFileSync('qemu-img', ['resize', '-q', '--shrink', disk.path, String(size / 2)]);
    execFileSync('qemu-img', ['resize', '-q', disk.path, String(size)]);
  }
  const second = await backUp(plan);
  expect(second).toMatch(
    /disk 2001: the disk shrank since dirty bitmap '[^']+' was added \(its mark at byte 33554431 is gone\)/,
  );
  expect(second).toMatch(
    /disk 2002: the disk shrank since dirty bitmap '[^']+' was added \(its mark at byte 50331647 is gone\)/,
  );
  expect(second).not.toMatch(/disk 2000: the disk shrank/);
  copies.push(disks.map((disk) => keepCopy(disk.path, path.join(ws.dir, `m2-${disk.key}.qcow2`))));

  // Each disk's new bitmap has its own mark: the next incremental copies only that block of each.
  const third = await backUp(plan);
  expect(third).not.toMatch(/shrank/);
  copies.push(disks.map((disk) => keepCopy(disk.path, path.join(ws.dir, `m3-${disk.key}.qcow2`))));

  const backups = await listBackups(ws.db, 'multivm');
  expect(backups.map((backup) => backup.status)).toEqual(['complete', 'complete', 'complete']);
  expect(backups[2]!.disks.map((disk) => (disk.bytes ?? Infinity) <= 64 * 1024)).toEqual([true, true, true]);
  for (const [index, backup] of backups.entries()) {
    for (const [at, disk] of backup.disks.entries())
      expect(differenceBetween(disk.file, copies[index]![at]!), `point ${index + 1} disk ${at}`).toBe('');
  }
}, 240_000);

it('a replicate sync after a shrink and grow copies every block, warned: replica.path equals the source', async () => {
  const disk = createDisk(path.join(ws.dir, 'source.qcow2'), 64 * MiB);
  writeDisk(disk, ['write -P 0x11 0 64M']);
  const replicaDir = path.join(ws.dir, 'replica');
  mkdirSync(replicaDir);
  const plan = path.join(ws.dir, 'replicate.yaml');
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'replicate',
      name: 'shrink-replica',
      vm: { name: 'shrinkvm', source: { type: 'qemu', disks: [{ key: 2000, path: disk, format: 'qcow2' }] } },
      replica: { path: path.join(replicaDir, 'shrinkvm.qcow2'), points: 2, scratch: ws.dir },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
  expect(await backUp(plan)).toMatch(/full, new chain/);
  execFileSync('qemu-img', ['resize', '-q', '--shrink', disk, String(32 * MiB)]);
  execFileSync('qemu-img', ['resize', '-q', disk, String(64 * MiB)]);
  writeDisk(disk, ['write -P 0x22 1M 1M']);
  const second = await backUp(plan);
  expect(second).toMatch(/changes since point/);
  expect(second).toMatch(
    /the disk shrank since dirty bitmap '[^']+' was added \(its mark at byte 67108863 is gone\): every block is copied/,
  );
  expect(imagesEqual(disk, path.join(replicaDir, 'shrinkvm.qcow2'))).toBe(true);
}, 240_000);
