// kill -9 of a backup of a running domain during its transfer leaves libvirt's pull-mode job
// running; the next run (no doctor in between) ends that job, removes the dead run's scratch
// directory and half-made checkpoint, and backs up exactly. Real libvirt, the busybox guest.

import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countersAreOnePointInTime, startGuest, virsh, type TestGuest } from '../support/libvirt-guest.js';
import { imagesEqual } from '../support/images.js';
import { NotedProcesses, identify, killIfAlive } from '../support/processes.js';
import { processesTaggedBy, tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { runKilledAt, stepStarts } from '../support/kill-moments.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { restorePoint, writeLibvirtPlan } from './libvirt-plans.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-killed-job-', { per: 'file' });
const noted = new NotedProcesses();
const seen = new Set<number>();
let guest: TestGuest;
let plan: string;
let scratch: string;

beforeAll(async () => {
  guest = await startGuest({ name: 'killed-job' });
  scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  plan = writeLibvirtPlan(ws.dir, {
    name: 'killed-job-hourly',
    vm: 'killedjob',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
  });
}, 180_000);
afterEach(() => {
  noted.killAll();
  for (const pid of seen) for (const left of processesTaggedBy(pid)) killIfAlive(identify(left.pid));
  seen.clear();
});
afterAll(() => guest?.remove());

const ourCheckpoints = () =>
  virsh('checkpoint-list', guest.name, '--name')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('sendense-'));

async function backUp(): Promise<{ id: string; output: string }> {
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return { id: /backup (\S+)$/m.exec(result.stdout)![1]!, output: `${result.stdout}\n${result.stderr}` };
}

describe('a live backup killed during its transfer', () => {
  it('the next run, without doctor, ends the dead run’s job and backs up exactly', async () => {
    const full = await backUp();
    const [transferStart] = stepStarts(['transfer']);
    await runKilledAt([plan, '--db', ws.db], transferStart!, (pid) => {
      seen.add(pid);
      noted.add(pid);
    });
    // What the kill left: libvirt's job still running, its scratch directory, a half-made checkpoint.
    expect(virsh('domjobinfo', guest.name)).toMatch(/Operation:\s+Backup/);
    expect(readdirSync(scratch)).toHaveLength(1);
    expect(ourCheckpoints()).toHaveLength(2);

    const next = await backUp();
    expect(next.output).toMatch(
      /left by a run that was killed: backup job of domain \S+ \(socket \S+\) \(run \S+\): end it: done/,
    );
    expect(virsh('domjobinfo', guest.name)).toMatch(/Job type:\s+None/);
    expect(readdirSync(scratch)).toEqual([]);
    expect(tableRows(ws.db, 'node_resources')).toEqual([]);
    const complete = (await listBackups(ws.db, 'killedjob')).filter((backup) => backup.status === 'complete');
    expect(complete.map((backup) => [backup.id, backup.type])).toEqual([
      [full.id, 'full'],
      [next.id, 'incremental'],
    ]);
    expect(ourCheckpoints()).toEqual([complete[1]!.disks[0]!.changeId]);
    const restored = await restorePoint(ws.dir, {
      vm: 'killedjob',
      repository: ws.repository,
      ports,
      db: ws.db,
      point: next.id,
    });
    expect(countersAreOnePointInTime(restored.counters), JSON.stringify(restored.counters)).toBe(true);
    restored.remove();

    // Shut off, one more incremental on that chain restores exactly what the images hold.
    guest.destroy();
    const last = await backUp();
    const finalPoint = await restorePoint(ws.dir, {
      vm: 'killedjob',
      repository: ws.repository,
      ports,
      db: ws.db,
      point: last.id,
    });
    try {
      expect((await listBackups(ws.db, 'killedjob')).at(-1)!.type).toBe('incremental');
      expect(imagesEqual(finalPoint.files[2000]!, guest.images.vda!)).toBe(true);
      expect(imagesEqual(finalPoint.files[2001]!, guest.images.vdb!)).toBe(true);
    } finally {
      finalPoint.remove();
    }
  }, 180_000);
});
