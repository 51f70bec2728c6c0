// A checkpoint of ours deleted and re-created under the same name while the domain runs (virsh
// checkpoint-delete, guest writes, virsh checkpoint-create-as): its bitmap misses the writes made
// in between, so the next run must not build an incremental on it. Real libvirt, the busybox guest.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countersAreOnePointInTime, startGuest, virsh, type TestGuest } from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { restorePoint, writeLibvirtPlan } from './libvirt-plans.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-checkpoint-identity-', { per: 'file' });
let guest: TestGuest;
let plan: string;

beforeAll(async () => {
  guest = await startGuest({ name: 'checkpoint-identity' });
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  plan = writeLibvirtPlan(ws.dir, {
    name: 'identity-hourly',
    vm: 'identity',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
  });
}, 180_000);
afterAll(() => guest?.remove());

async function backUp(): Promise<{ id: string; output: string }> {
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return { id: /backup (\S+)$/m.exec(result.stdout)![1]!, output: `${result.stdout}\n${result.stderr}` };
}

// Writes `byte` over [offset, offset + length) of the running guest's disk through QEMU's own block
// layer (HMP qemu-io on the device): a guest write, seen by every dirty bitmap of the disk.
function guestWrites(target: 'vda' | 'vdb', byte: number, offset: number, length: number): void {
  const device = `${target === 'vda' ? 'virtio-disk0' : 'virtio-disk1'}/virtio-backend`;
  for (const command of [`write -P ${byte} ${offset} ${length}`, 'flush']) {
    expect(virsh('qemu-monitor-command', guest.name, '--hmp', `qemu-io -d ${device} "${command}"`).trim()).toBe('');
  }
}

// A disk's bytes with the guest's counter blocks (written all the time) zeroed: what must be equal.
function withoutCounters(file: string, format: 'raw' | 'qcow2', counters: readonly number[]): Buffer {
  const raw = `${file}.compare.raw`;
  execFileSync('qemu-img', ['convert', '-U', '-f', format, '-O', 'raw', file, raw]);
  const bytes = readFileSync(raw);
  rmSync(raw);
  for (const offset of counters) bytes.fill(0, offset, offset + 4096);
  return bytes;
}

describe('a checkpoint deleted and re-created under our name', () => {
  it('gives a warned full whose restore holds every write the guest made, and the chain goes on exact', async () => {
    const first = await backUp();
    const name = (await listBackups(ws.db, 'identity'))[0]!.disks[0]!.changeId!;
    expect(name).toMatch(/^sendense-/);

    // The audit's sequence: deleted, the guest writes where no checkpoint tracks it, re-created.
    virsh('checkpoint-delete', guest.name, name);
    guestWrites('vda', 0x5a, 10 * MiB, 3 * MiB + 64 * 1024);
    guestWrites('vdb', 0xa5, 20 * MiB, MiB);
    virsh('checkpoint-create-as', guest.name, name);

    const second = await backUp();
    expect(second.output).toContain(`checkpoint '${name}' of domain ${guest.name} is not the one run`);
    expect(second.output).toMatch(/taking a full backup into a new chain/);
    // A write after the full: the next incremental (from our own new checkpoint) must carry it.
    guestWrites('vda', 0x3c, 40 * MiB, MiB);
    const third = await backUp();
    const backups = await listBackups(ws.db, 'identity');
    expect(backups.map((backup) => [backup.id, backup.type])).toEqual([
      [first.id, 'full'],
      [second.id, 'full'],
      [third.id, 'incremental'],
    ]);

    // No one writes those regions any more: the restore of the newest point equals the disks now,
    // apart from the counter blocks, which must be one point in time.
    const restored = await restorePoint(ws.dir, {
      vm: 'identity',
      repository: ws.repository,
      ports,
      db: ws.db,
      point: third.id,
    });
    try {
      expect(countersAreOnePointInTime(restored.counters), JSON.stringify(restored.counters)).toBe(true);
      const vda = [0, 64 * MiB];
      const vdb = [MiB];
      expect(
        withoutCounters(restored.files[2000]!, 'raw', vda).equals(withoutCounters(guest.images.vda!, 'qcow2', vda)),
      ).toBe(true);
      expect(
        withoutCounters(restored.files[2001]!, 'raw', vdb).equals(withoutCounters(guest.images.vdb!, 'qcow2', vdb)),
      ).toBe(true);
      expect(
        readFileSync(restored.files[2000]!)
          .subarray(10 * MiB, 13 * MiB)
          .every((byte) => byte === 0x5a),
      ).toBe(true);
    } finally {
      restored.remove();
    }
  });
});
