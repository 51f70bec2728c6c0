// What a listing shows of each layer is recorded when the layer is written, merged and verified
// (docs/how-it-works.md#what-a-listing-reads): the listing opens no file, a layer recorded before
// (no facts) is read once and recorded, and verify notices what the files say now.

import { renameSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { listPoints } from '../../src/core/list-points.js';
import { runPlan } from '../../src/engine/run-plan.js';
import type { RunReporter } from '../../src/engine/run-events.js';
import { readBacking } from '../../src/qemu/qcow2-header.js';
import { fileDiskUsage } from '../../src/repository/disk-usage.js';
import { SqliteDatabase } from '../../src/store/sqlite-driver.js';
import { qemuIo } from '../support/images.js';
import { useSandboxStore } from '../support/sandbox-store.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { planDoc, planOf } from '../schedule/test-plans.js';

const quiet: RunReporter = { emit: () => {}, close: async () => {} };

describe('layer facts', () => {
  const sandbox = useSandboxStore('layer-facts');

  async function backUp(plan: ReturnType<typeof planOf>, i: number): Promise<string> {
    qemuIo(sandbox.box.source, `write -P 0x${(0x30 + i).toString(16)} ${i}M 256k`);
    const result = await runPlan(plan, { store: sandbox.store, reporter: quiet, trigger: 'schedule' });
    expect(result.status, result.error?.describe()).toBe('succeeded');
    return result.backupId!;
  }

  // Each layer of the VM: its recorded facts next to what its file says now.
  async function recordedAndActual(vm: string) {
    const facts = await sandbox.store.layerFacts({ vm });
    return (await sandbox.store.listBackups({ vm })).map((point) => {
      const disk = point.disks[0]!;
      const recorded = facts.find((layer) => layer.backupId === point.id && layer.diskKey === disk.diskKey);
      return {
        id: point.id,
        type: point.type,
        recorded: recorded && {
          onDiskBytes: recorded.onDiskBytes,
          backing: recorded.backing,
          headerProblem: recorded.headerProblem,
        },
        actual: {
          onDiskBytes: fileDiskUsage(disk.file),
          backing: readBacking(disk.file)?.name ?? null,
          headerProblem: null,
        },
      };
    });
  }

  it('are recorded as a point is written and again when retention merges the point before it into it', async () => {
    const plan = planOf(planDoc(sandbox.box, 'facts-merge', { retention: { keepLast: 2 } }));
    const ids = [await backUp(plan, 0), await backUp(plan, 1)];
    const before = await recordedAndActual('vm-facts-merge');
    expect(before.map((layer) => [layer.id, layer.type])).toEqual([
      [ids[0], 'full'],
      [ids[1], 'incremental'],
    ]);
    for (const layer of before) expect(layer.recorded, layer.id).toEqual(layer.actual);
    expect(before[1]!.recorded!.backing).not.toBeNull();

    // The third run merges the full into the second point: it becomes the full, its file changed.
    ids.push(await backUp(plan, 2));
    const after = await recordedAndActual('vm-facts-merge');
    expect(after.map((layer) => [layer.id, layer.type])).toEqual([
      [ids[1], 'full'],
      [ids[2], 'incremental'],
    ]);
    for (const layer of after) expect(layer.recorded, layer.id).toEqual(layer.actual);
    expect(after[0]!.recorded!.backing).toBeNull();
    expect(after[0]!.recorded!.onDiskBytes).not.toBe(before[1]!.recorded!.onDiskBytes);
  });

  it('a listing answers from them without opening the files; verify reads the files and the listing follows', async () => {
    const plan = planOf(planDoc(sandbox.box, 'facts-list'));
    const [full, incremental] = [await backUp(plan, 0), await backUp(plan, 1)];
    const listed = JSON.stringify(await listPoints(sandbox.store, { vm: 'vm-facts-list' }));
    const file = (await sandbox.store.getBackup(incremental))!.disks[0]!.file;
    // The incremental's file put aside and a file that is no qcow2 in its place.
    renameSync(file, `${file}.aside`);
    writeFileSync(file, Buffer.alloc(1024 * 1024, 0x5a));
    expect(JSON.stringify(await listPoints(sandbox.store, { vm: 'vm-facts-list' }))).toBe(listed);

    const verify = await sendenseRun(['verify', '--vm', 'vm-facts-list', '--db', sandbox.box.db]);
    expect(verify.exitCode, `${verify.stdout}\n${verify.stderr}`).not.toBe(0);
    const points = await listPoints(sandbox.store, { vm: 'vm-facts-list' });
    expect(points.map((point) => [point.id, point.restorable])).toEqual([
      [full, true],
      [incremental, false],
    ]);
    expect(points[1]!.notRestorableBecause).toMatch(/^damaged \(verify /);
    expect(points[1]!.disks[0]!.onDiskBytes).toBe(fileDiskUsage(file));
  });

  it('a layer recorded before them is read once and recorded; every change of a point moves the counter', async () => {
    const plan = planOf(planDoc(sandbox.box, 'facts-old'));
    const id = await backUp(plan, 0);
    const file = (await sandbox.store.getBackup(id))!.disks[0]!.file;
    // As a version before 026 left it: nothing recorded.
    const raw = new SqliteDatabase(sandbox.box.db);
    raw.prepare('update backup_disks set facts_at = null, on_disk_bytes = null').run();
    raw.close();
    expect(await sandbox.store.layerFacts({ vm: 'vm-facts-old' })).toEqual([]);

    const [point] = await listPoints(sandbox.store, { vm: 'vm-facts-old' });
    expect(point!.disks[0]!.onDiskBytes).toBe(fileDiskUsage(file));
    const facts = await sandbox.store.layerFacts({ vm: 'vm-facts-old' });
    expect(facts.map((layer) => [layer.backupId, layer.onDiskBytes, layer.headerProblem])).toEqual([
      [id, fileDiskUsage(file), null],
    ]);

    const counted = await sandbox.store.backupsGeneration();
    await sandbox.store.setProtected(id, true);
    expect(await sandbox.store.backupsGeneration()).toBeGreaterThan(counted!);
  });
});
