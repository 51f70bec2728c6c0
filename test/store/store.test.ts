import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { DIALECTS, useStoreTarget } from '../support/store-dialects.js';

describe.each(DIALECTS)('store on %s', (dialect) => {
  const target = useStoreTarget(dialect);
  let store: Store;

  beforeEach(async () => {
    store = await openStore(target.db);
  });

  afterEach(async () => {
    await store.close();
  });

  const disk = (key: number, backupId: string) => ({
    diskKey: key,
    file: `/repo/pgtest1/disk-${key}/${backupId}.qcow2`,
    virtualSize: 1 << 30,
    source: `/vms/pgtest1-disk-${key}.qcow2`,
    sourceNode: 'local',
    bitmap: `sendense-${backupId}`,
  });

  // A complete backup with disks 2000 and 2001.
  async function completedBackup(runId: string, parentId?: string) {
    // Each its own start time (milliseconds): two in the same one are the same instant to "at or before".
    await new Promise((resolve) => setTimeout(resolve, 3));
    const backup = await store.createBackup({
      vm: 'pgtest1',
      plan: 'nightly',
      type: parentId ? 'incremental' : 'full',
      parentId,
      repository: '/repo',
      runId,
    });
    for (const key of [2000, 2001]) {
      await store.addBackupDisk(backup.id, disk(key, backup.id));
      await store.completeBackupDisk(backup.id, key, { changeId: `sendense-${backup.id}`, bytes: 100 });
    }
    return store.completeBackup(backup.id);
  }

  it('a backup that completes on a parent verify marked damaged meanwhile is damaged too, never a complete point', async () => {
    const run = await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' });
    const parent = await completedBackup(run.id);
    // A run resolved its chain on the parent and is writing its incremental...
    const child = await store.createBackup({
      vm: 'pgtest1',
      plan: 'nightly',
      type: 'incremental',
      parentId: parent.id,
      repository: '/repo',
      runId: run.id,
    });
    for (const key of [2000, 2001]) {
      await store.addBackupDisk(child.id, disk(key, child.id));
      await store.completeBackupDisk(child.id, key, { changeId: `sendense-${child.id}`, bytes: 100 });
    }
    // ...when a verify run at the same time marks the parent damaged (the child is not complete yet).
    await store.markDamaged([parent.id], 'verify: disk 2000: data differs');
    const completed = await store.completeBackup(child.id);
    expect(completed.status).toBe('damaged');
    expect(completed.damage).toBe(`built on damaged backup ${parent.id}`);
    expect(await store.latestCompleteBackup('pgtest1')).toBeUndefined();
  });

  it('creates the database directory and reopens an existing file without re-migrating', async () => {
    const run = await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' });
    await store.close();
    store = await openStore(target.db);
    expect((await store.getRun(run.id))?.plan).toBe('nightly');
  });

  it('records runs, their end and skipped runs, newest first', async () => {
    const first = await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual', planFile: '/p.yaml' });
    expect(first).toMatchObject({ status: 'running', pid: process.pid, endedAt: null, planFile: '/p.yaml' });
    expect(Object.isFrozen(first)).toBe(true);
    expect((await store.runningRuns()).map((run) => run.id)).toEqual([first.id]);
    const failed = await store.finishRun(first.id, 'failed', 'disk 2000: image locked');
    expect(failed).toMatchObject({ status: 'failed', error: 'disk 2000: image locked' });
    expect(failed.endedAt).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    const skipped = await store.recordSkippedRun({
      plan: 'nightly',
      kind: 'backup',
      trigger: 'schedule',
      reason: 'still running',
    });
    await store.createRun({ plan: 'other', kind: 'restore', trigger: 'manual' });
    expect((await store.listRuns({ plan: 'nightly' })).map((run) => run.id)).toEqual([skipped.id, first.id]);
    expect(await store.listRuns({ limit: 1 })).toHaveLength(1);
    expect(await store.runningRuns()).toHaveLength(1);
  });

  it('lists the plan files runs were started from, once each, sorted', async () => {
    for (const planFile of ['/plans/b.yaml', '/plans/a.yaml', '/plans/b.yaml'])
      await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual', planFile });
    await store.createRun({ plan: 'bare', kind: 'backup', trigger: 'manual' });
    expect(await store.runPlanFiles()).toEqual(['/plans/a.yaml', '/plans/b.yaml']);
  });

  it("records the bytes a run moved that no backup counts (a copy's, beyond 4 GiB)", async () => {
    const run = await store.createRun({ plan: 'offsite', kind: 'copy', trigger: 'manual' });
    expect(run.bytes).toBeNull();
    await store.recordRunBytes(run.id, 5 * 1024 ** 3 + 7);
    expect((await store.getRun(run.id))?.bytes).toBe(5 * 1024 ** 3 + 7);
  });

  it('builds a chain: full, incrementals, parent lookups and restore points', async () => {
    const run = await store.createRun({ plan: 'nightly', kind: 'incremental', trigger: 'manual' });
    const full = await completedBackup(run.id);
    const inc1 = await completedBackup(run.id, full.id);
    const inc2 = await completedBackup(run.id, inc1.id);
    expect(full.chainId).toBe(full.id);
    expect(inc2.chainId).toBe(full.id);
    expect(inc2.bytes).toBe(200);
    expect(inc2.disks.map((d) => [d.diskKey, d.changeId, d.status])).toEqual([
      [2000, `sendense-${inc2.id}`, 'complete'],
      [2001, `sendense-${inc2.id}`, 'complete'],
    ]);
    expect((await store.chainOf(inc2.id)).map((b) => b.id)).toEqual([full.id, inc1.id, inc2.id]);
    expect(await store.chainLength(full.id)).toBe(3);
    expect(
      (await store.listBackups()).filter((b) => b.chainId === full.id && b.status === 'complete').map((b) => b.id),
    ).toEqual([full.id, inc1.id, inc2.id]);
    expect((await store.latestCompleteBackup('pgtest1'))?.id).toBe(inc2.id);
    expect(await store.latestCompleteBackup('pgtest1', '/elsewhere')).toBeUndefined();
    expect((await store.completeBackupAtOrBefore('pgtest1', new Date(inc1.startedAt)))?.id).toBe(inc1.id);
    expect(await store.completeBackupAtOrBefore('pgtest1', new Date('2000-01-01T00:00:00Z'))).toBeUndefined();
    expect((await store.listBackups()).filter((b) => b.runId === run.id).map((b) => b.id)).toEqual([
      full.id,
      inc1.id,
      inc2.id,
    ]);
    expect((await store.getRun(run.id))?.backupId).toBe(inc2.id);
    expect((await store.listBackups({ vm: 'pgtest1' })).map((b) => b.id)).toEqual([full.id, inc1.id, inc2.id]);
  });

  it("keeps a point's protection and finds a plan's own newest point", async () => {
    const run = await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' });
    const full = await completedBackup(run.id);
    expect(full.protected).toBe(false);
    await store.setProtected(full.id, true);
    expect((await store.getBackup(full.id))?.protected).toBe(true);
    await store.setProtected(full.id, false);
    expect((await store.listBackups({ vm: 'pgtest1' }))[0]?.protected).toBe(false);
    expect((await store.latestCompleteBackup('pgtest1', '/repo', 'nightly'))?.id).toBe(full.id);
    expect(await store.latestCompleteBackup('pgtest1', '/repo', 'weekly')).toBeUndefined();
  });

  it('refuses to complete a backup while a disk is still running, and changes nothing', async () => {
    const run = await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' });
    const backup = await store.createBackup({
      vm: 'pgtest1',
      plan: 'nightly',
      type: 'full',
      repository: '/repo',
      runId: run.id,
    });
    await store.addBackupDisk(backup.id, disk(2000, backup.id));
    await store.addBackupDisk(backup.id, disk(2001, backup.id));
    await store.completeBackupDisk(backup.id, 2000, { changeId: 'b1', bytes: 5 });
    await expect(store.completeBackup(backup.id)).rejects.toThrow(/incomplete disks 2001/);
    expect((await store.getBackup(backup.id))?.status).toBe('running');
    expect(await store.latestCompleteBackup('pgtest1')).toBeUndefined();
  });

  it('never uses a failed or running backup as a parent; failed ones are listed for doctor', async () => {
    const run = await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' });
    const full = await completedBackup(run.id);
    const broken = await store.createBackup({
      vm: 'pgtest1',
      plan: 'nightly',
      type: 'incremental',
      parentId: full.id,
      repository: '/repo',
      runId: run.id,
    });
    await store.addBackupDisk(broken.id, disk(2000, broken.id));
    await store.failBackup(broken.id);
    expect((await store.getBackup(broken.id))?.disks[0].status).toBe('failed');
    expect((await store.latestCompleteBackup('pgtest1'))?.id).toBe(full.id);
    await expect(
      store.createBackup({
        vm: 'pgtest1',
        plan: 'nightly',
        type: 'incremental',
        parentId: broken.id,
        repository: '/repo',
        runId: run.id,
      }),
    ).rejects.toThrow(/not a complete backup/);
    expect((await store.incompleteBackups()).map((b) => [b.id, b.disks[0].file])).toEqual([
      [broken.id, disk(2000, broken.id).file],
    ]);
    expect(await store.chainLength(full.id)).toBe(1);
  });

  it('deletes a backup only when nothing stands on it', async () => {
    const run = await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' });
    const full = await completedBackup(run.id);
    const inc = await completedBackup(run.id, full.id);
    await expect(store.deleteBackup(full.id)).rejects.toThrow(/still stands on/);
    await store.deleteBackup(inc.id);
    await store.deleteBackup(full.id);
    expect(await store.listBackups()).toEqual([]);
  });

  it('records and forgets processes with their start ticks', async () => {
    const run = await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' });
    const record = await store.recordProcess(run.id, process.pid, 'qemu-nbd', ['qemu-nbd', '-x', 'disk']);
    expect(record.startTicks).toBeGreaterThan(0);
    expect((await store.allProcesses()).filter((p) => p.runId === run.id)).toEqual([record]);
    expect(await store.allProcesses()).toHaveLength(1);
    await store.forgetProcess(process.pid);
    expect(await store.allProcesses()).toEqual([]);
    await expect(store.recordProcess(run.id, 0x7ffffff0, 'qemu-nbd', [])).rejects.toThrow(/not running/);
  });
});
