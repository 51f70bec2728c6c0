// kill -9 of a backup of a running libvirt domain at every phase, then `doctor`: no backup job,
// scratch directory, half-made checkpoint, frozen guest, process, lease or lock of the killed run
// is left; the checkpoint the newest complete backup starts from is kept; the next run works; and
// at the end the whole chain restores exactly what the images hold.

import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freezeStatusOf, startGuest, virsh, type TestGuest } from '../support/libvirt-guest.js';
import { imagesEqual } from '../support/images.js';
import { NotedProcesses, identify, killIfAlive, waitForProcessGone } from '../support/processes.js';
import { leasedPorts, processesTaggedBy, recordedProcesses, tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { runKilledAt, stepStarts, type KillMoment } from '../support/kill-moments.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { bitmapNames, portRangeForTestFile } from '../support/vm-disks.js';
import { restorePoint, writeLibvirtPlan } from './libvirt-plans.js';
import { killAtEnv } from '../../src/crash-points.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-crash-', { per: 'file' });
const noted = new NotedProcesses();
const seen = new Set<number>();
let guest: TestGuest;
let plan: string;
let scratch: string;

beforeAll(async () => {
  guest = await startGuest({ name: 'crash', fsDisk: true });
  scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  plan = writeLibvirtPlan(ws.dir, {
    name: 'crash-hourly',
    vm: 'crash',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
    disks: [
      { key: 2000, target: 'vda' },
      { key: 2001, target: 'vdb' },
    ],
  });
  const full = await sendenseRun([plan, '--db', ws.db]);
  if (full.exitCode !== 0) throw new Error(`full backup failed:\n${full.stdout}\n${full.stderr}`);
}, 180_000);
afterEach(() => {
  noted.killAll();
  for (const pid of seen) for (const left of processesTaggedBy(pid)) killIfAlive(identify(left.pid));
  seen.clear();
});
afterAll(() => guest?.remove());

const STEPS = [
  'resolve-chain',
  'allocate-ports',
  'create-qcow2',
  'start-qemu-nbd',
  'snapshot-source',
  'transfer',
  'record-change-ids',
  'cleanup',
];
const MOMENTS: readonly KillMoment[] = [
  ...stepStarts(STEPS),
  { name: 'while the guest is frozen', env: killAtEnv('libvirt.guest-frozen') },
  { name: 'just after the backup job started', env: killAtEnv('libvirt.job-started') },
  { name: 'just after snapshot-source', accept: (e) => e.type === 'step-done' && e.step === 'snapshot-source' },
  { name: 'just after record-change-ids', accept: (e) => e.type === 'step-done' && e.step === 'record-change-ids' },
];

const ourCheckpoints = () =>
  virsh('checkpoint-list', guest.name, '--name')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('sendense-'));

async function killAt(moment: KillMoment): Promise<number> {
  const ended = await runKilledAt([plan, '--db', ws.db], moment, (pid) => {
    seen.add(pid);
    noted.add(pid);
  });
  return ended.pid;
}

describe('kill -9 at any moment of a backup of a running domain', () => {
  for (const moment of MOMENTS) {
    it(`${moment.name}: doctor gives back the job, scratch directory, checkpoint and freeze; the next run works`, async () => {
      const killed = await killAt(moment);
      const doctor = await sendenseRun(['doctor', '--db', ws.db]);
      expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
      for (const left of processesTaggedBy(killed))
        expect(await waitForProcessGone(left.pid), left.command.join(' ')).toBe(true);
      expect(virsh('domjobinfo', guest.name)).toMatch(/Job type:\s+None/);
      expect(readdirSync(scratch)).toEqual([]);
      expect(await freezeStatusOf(guest.name)).toBe('thawed');
      expect(recordedProcesses(ws.db)).toEqual([]);
      expect(leasedPorts(ws.db)).toEqual([]);
      expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
      expect(tableRows(ws.db, 'node_resources')).toEqual([]);
      const complete = (await listBackups(ws.db, 'crash')).filter((backup) => backup.status === 'complete');
      // Exactly the checkpoint the next incremental starts from.
      expect(ourCheckpoints()).toEqual([complete.at(-1)!.disks[0]!.changeId]);
      const again = await sendenseRun(['doctor', '--db', ws.db]);
      expect(again.stdout, 'a second doctor finds nothing').toContain('nothing left behind');
      const next = await sendenseRun([plan, '--db', ws.db]);
      expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
      expect(next.stdout).toMatch(/incremental on/);
    }, 90_000);
  }

  // Shut off: the checkpoint is made in the images (qemu-img) and recorded in libvirt's metadata.
  for (const step of ['transfer', 'record-change-ids', 'cleanup']) {
    it(`shut off, at the start of ${step}: doctor removes a half-made checkpoint from the images and libvirt`, async () => {
      guest.destroy();
      await killAt({ name: step, accept: (e) => e.type === 'step-start' && e.step === step });
      const doctor = await sendenseRun(['doctor', '--db', ws.db]);
      expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
      expect(tableRows(ws.db, 'node_resources')).toEqual([]);
      const complete = (await listBackups(ws.db, 'crash')).filter((backup) => backup.status === 'complete');
      const newest = complete.at(-1)!.disks[0]!.changeId;
      expect(ourCheckpoints()).toEqual([newest]);
      for (const image of [guest.images.vda!, guest.images.vdb!])
        expect(bitmapNames(image).filter((name) => name.startsWith('sendense-'))).toEqual([newest]);
    }, 90_000);
  }

  it('after all that, shut off: the newest point restores exactly what the images hold', async () => {
    guest.destroy();
    const last = await sendenseRun([plan, '--db', ws.db]);
    expect(last.exitCode, last.stderr).toBe(0);
    const backups = (await listBackups(ws.db, 'crash')).filter((backup) => backup.status === 'complete');
    expect(backups.at(-1)!.type).toBe('incremental');
    const restored = await restorePoint(ws.dir, {
      vm: 'crash',
      repository: ws.repository,
      ports,
      db: ws.db,
      point: backups.at(-1)!.id,
    });
    expect(imagesEqual(restored.files[2000]!, guest.images.vda!)).toBe(true);
    expect(imagesEqual(restored.files[2001]!, guest.images.vdb!)).toBe(true);
  }, 90_000);
});
