// A running libvirt domain whose guest writes all the time: every backup (full, incrementals,
// after a shut-off, after a restart) is one point in time across both disks, the chain restores
// exactly what the images hold once the domain is off, and checkpoints are kept tidy without
// touching another tool's. Real libvirt, a real guest (test/support/libvirt-guest.ts).

import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countersAreOnePointInTime, readCounter, startGuest, virsh, type TestGuest } from '../support/libvirt-guest.js';
import { imagesEqual } from '../support/images.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { restorePoint, writeLibvirtPlan } from './libvirt-plans.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-live-', { per: 'file' });
let guest: TestGuest;
let plan: string;
let scratch: string;

beforeAll(async () => {
  guest = await startGuest({ name: 'live' });
  scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  plan = writeLibvirtPlan(ws.dir, {
    name: 'live-hourly',
    vm: 'live',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
  });
}, 180_000);
afterAll(() => guest?.remove());

const ourCheckpoints = () =>
  virsh('checkpoint-list', guest.name, '--name')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('sendense-'));

async function backUp(): Promise<string> {
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return /backup (\S+)$/m.exec(result.stdout)![1]!;
}

// Rounds go on while we wait: the next backup has something new to copy.
async function letGuestWrite(rounds = 3): Promise<void> {
  const from = guest.rounds();
  while (guest.rounds() < from + rounds) await new Promise((resolve) => setTimeout(resolve, 200));
}

describe('a running libvirt domain', () => {
  it('a copy made disk after disk while the guest writes is not one point in time (the check can fail)', async () => {
    const vda = path.join(ws.dir, 'naive-vda.raw');
    const vdb = path.join(ws.dir, 'naive-vdb.raw');
    execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', guest.images.vda!, vda]);
    await letGuestWrite(2);
    execFileSync('qemu-img', ['convert', '-U', '-O', 'raw', guest.images.vdb!, vdb]);
    expect(
      countersAreOnePointInTime({
        vda0: readCounter(vda, 0),
        vda64: readCounter(vda, 64 * MiB),
        vdb1: readCounter(vdb, MiB),
      }),
    ).toBe(false);
  });

  it('dry-run names the domain, its state, the disks found and full or incremental', async () => {
    const result = await sendenseRun([plan, '--db', ws.db, '--dry-run']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      `domain ${guest.name} on qemu:///system: running, 2000 = vda (${guest.images.vda}), 2001 = vdb (${guest.images.vdb})`,
    );
    expect(result.stdout).toContain('skipped: hdc (a cdrom)');
    expect(result.stdout).toMatch(/full backup into a new chain/);
  });

  it('a full and two incrementals, taken while the guest writes, are each one point in time, newer each time', async () => {
    // Another tool's checkpoint on the same domain: never touched.
    const foreign = path.join(ws.dir, 'foreign.xml');
    execFileSync('sh', [
      '-c',
      `printf '%s' "<domaincheckpoint><name>othertool.1</name></domaincheckpoint>" > ${foreign}`,
    ]);
    virsh('checkpoint-create', guest.name, foreign);

    const points = [await backUp()];
    await letGuestWrite();
    points.push(await backUp());
    await letGuestWrite();
    points.push(await backUp());

    const backups = await listBackups(ws.db, 'live');
    expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental', 'incremental']);
    let last = 0;
    for (const point of points) {
      const restored = await restorePoint(ws.dir, { vm: 'live', repository: ws.repository, ports, db: ws.db, point });
      expect(countersAreOnePointInTime(restored.counters), `${point}: ${JSON.stringify(restored.counters)}`).toBe(true);
      expect(restored.counters.vda64).toBeGreaterThan(last);
      last = restored.counters.vda64;
      restored.remove();
    }
    // Only the newest backup's checkpoint is ours now; the other tool's is still there.
    expect(ourCheckpoints()).toEqual([backups[2]!.disks[0]!.changeId]);
    expect(virsh('checkpoint-list', guest.name, '--name')).toContain('othertool.1');
    // The domain's definition, stored with each point, readable only by its owner.
    for (const point of points) {
      const xml = path.join(ws.repository, 'live', 'domain', `${point}.xml`);
      expect(readFileSync(xml, 'utf8')).toContain(`<name>${guest.name}</name>`);
      expect(statSync(xml).mode & 0o777).toBe(0o600);
    }
  });

  it('shut off, the next incremental restores exactly the images; after a restart the chain stays exact', async () => {
    guest.destroy();
    const off = await backUp();
    let restored = await restorePoint(ws.dir, { vm: 'live', repository: ws.repository, ports, db: ws.db, point: off });
    expect(imagesEqual(restored.files[2000]!, guest.images.vda!)).toBe(true);
    expect(imagesEqual(restored.files[2001]!, guest.images.vdb!)).toBe(true);
    restored.remove();

    // Started again: an incremental while it runs (from the checkpoint made while it was off),
    // then shut off again: the chain through both restores what the images hold.
    await guest.start();
    await letGuestWrite();
    const running = await backUp();
    restored = await restorePoint(ws.dir, { vm: 'live', repository: ws.repository, ports, db: ws.db, point: running });
    expect(countersAreOnePointInTime(restored.counters)).toBe(true);
    restored.remove();
    await letGuestWrite();
    guest.destroy();
    const last = await backUp();
    const backups = await listBackups(ws.db, 'live');
    expect(backups.at(-1)!.type).toBe('incremental');
    restored = await restorePoint(ws.dir, { vm: 'live', repository: ws.repository, ports, db: ws.db, point: last });
    expect(imagesEqual(restored.files[2000]!, guest.images.vda!)).toBe(true);
    expect(imagesEqual(restored.files[2001]!, guest.images.vdb!)).toBe(true);
    restored.remove();
    expect(ourCheckpoints()).toEqual([backups.at(-1)!.disks[0]!.changeId]);
    // Nothing of the runs is left on the node: no scratch directory, no job.
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('retention merges points away with their domain XML; the newest point still restores the images', async () => {
    const keep = writeLibvirtPlan(ws.dir, {
      name: 'live-hourly',
      vm: 'live',
      domain: guest.name,
      repository: ws.repository,
      ports,
      scratch,
      retention: { keepLast: 2 },
    });
    const pruned = await sendenseRun(['prune', keep, '--db', ws.db]);
    expect(pruned.exitCode, `${pruned.stdout}\n${pruned.stderr}`).toBe(0);
    const left = (await listBackups(ws.db, 'live')).filter((backup) => backup.status === 'complete');
    expect(left).toHaveLength(2);
    expect(readdirSync(path.join(ws.repository, 'live', 'domain')).sort()).toEqual(
      left.map((backup) => `${backup.id}.xml`).sort(),
    );
    const restored = await restorePoint(ws.dir, {
      vm: 'live',
      repository: ws.repository,
      ports,
      db: ws.db,
      point: left.at(-1)!.id,
    });
    expect(imagesEqual(restored.files[2000]!, guest.images.vda!)).toBe(true);
    expect(imagesEqual(restored.files[2001]!, guest.images.vdb!)).toBe(true);
  });
});
