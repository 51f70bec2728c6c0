// A libvirt domain's disk shrunk and grown back between two backups (docs/how-it-works.md#change-tracking-by-source):
// QEMU clears the checkpoint bitmaps' bits past the cut and the grow adds clean ones, so the bitmap
// says nothing changed where the disk now reads zeroes. Live (virsh blockresize while the guest
// writes) and shut off (qemu-img resize), the next incremental copies that disk whole, warned; every
// point restores, verified, what the guest's disk held then: zeroes, the guest's counter, and what
// the guest wrote into the tail with dd (./guest-writes.ts).

import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countersAreOnePointInTime, startGuest, virsh, type TestGuest } from '../support/libvirt-guest.js';
import { imagesEqual } from '../support/images.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { guestWritesBusybox, shrunkAndGrown, vdbDifference, VDB, type Written } from './guest-writes.js';
import { restorePoint, writeLibvirtPlan } from './libvirt-plans.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-shrink-', { per: 'file' });
let guest: TestGuest;
let plan: string;

// What the guest wrote into vdb with dd, as each point must hold it.
const points: { id: string; vdb: readonly Written[] }[] = [];

beforeAll(async () => {
  guest = await startGuest({ name: 'shrink' });
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  plan = writeLibvirtPlan(ws.dir, {
    name: 'shrink-hourly',
    vm: 'shrinkvm',
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
  return { id: /backup (\S+)$/m.exec(result.stdout)![1]!, output: result.stdout + result.stderr };
}

describe('a libvirt disk shrunk and grown back', () => {
  it('live, virsh blockresize down to half and back up: the next incremental copies that disk whole, warned; every point restores what the guest wrote', async () => {
    points.push({ id: (await backUp()).id, vdb: [] });
    const tail = await guestWritesBusybox(guest, 48 * MiB);
    const second = await backUp();
    expect(second.output).not.toMatch(/every block is copied/);
    points.push({ id: second.id, vdb: [tail] });

    // Past 32 MiB vdb now reads zeroes; the checkpoint's bitmap records none of it.
    virsh('blockresize', guest.name, 'vdb', `${VDB / 2}B`);
    virsh('blockresize', guest.name, 'vdb', `${VDB}B`);
    const third = await backUp();
    expect(third.output).toMatch(shrunkAndGrown(2001));
    expect(third.output, 'vda was not resized').not.toMatch(/disk 2000: .*every block is copied/);
    points.push({ id: third.id, vdb: [] });

    // The new checkpoint records the writes from there on: the next one is a plain incremental.
    const again = await guestWritesBusybox(guest, 40 * MiB);
    const fourth = await backUp();
    expect(fourth.output).not.toMatch(/every block is copied/);
    points.push({ id: fourth.id, vdb: [again] });

    const backups = await listBackups(ws.db, 'shrinkvm');
    expect(backups.map((backup) => [backup.type, backup.status])).toEqual([
      ['full', 'complete'],
      ['incremental', 'complete'],
      ['incremental', 'complete'],
      ['incremental', 'complete'],
    ]);
    for (const [index, point] of points.entries()) {
      const restored = await restorePoint(ws.dir, {
        vm: 'shrinkvm',
        repository: ws.repository,
        ports,
        db: ws.db,
        point: point.id,
      });
      expect(
        countersAreOnePointInTime(restored.counters),
        `point ${index + 1}: ${JSON.stringify(restored.counters)}`,
      ).toBe(true);
      expect(vdbDifference(restored.files[2001]!, point.vdb), `point ${index + 1} restored`).toBe('');
      restored.remove();
    }
  }, 600_000);

  it('shut off, qemu-img resize --shrink and back: the next incremental copies that disk whole, warned, and restores the images', async () => {
    guest.destroy();
    execFileSync('qemu-img', ['resize', '-q', '--shrink', guest.images.vdb!, String(VDB / 2)]);
    execFileSync('qemu-img', ['resize', '-q', guest.images.vdb!, String(VDB)]);
    const off = await backUp();
    expect(off.output).toMatch(shrunkAndGrown(2001));
    expect((await listBackups(ws.db, 'shrinkvm')).at(-1)!.type).toBe('incremental');
    const restored = await restorePoint(ws.dir, {
      vm: 'shrinkvm',
      repository: ws.repository,
      ports,
      db: ws.db,
      point: off.id,
    });
    expect(vdbDifference(restored.files[2001]!, []), 'the tail the guest wrote before is gone').toBe('');
    expect(imagesEqual(restored.files[2000]!, guest.images.vda!)).toBe(true);
    expect(imagesEqual(restored.files[2001]!, guest.images.vdb!)).toBe(true);
    restored.remove();
  }, 300_000);
});
