// Retention on real backups: keepChains N keeps exactly the N newest chains; the older chains'
// files and records are gone and every backup left still restores the source exactly.

import { copyFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runPlan } from '../../src/engine/run-plan.js';
import type { RunEvent, RunReporter } from '../../src/engine/run-events.js';
import { imagesEqual, qemuIo } from '../support/images.js';
import { planDoc, planOf } from '../schedule/test-plans.js';
import { useSandboxStore } from '../support/sandbox-store.js';

describe('retention', () => {
  const sandbox = useSandboxStore('retention');

  // One scheduled run of the plan, then a copy of the source as that backup holds it, and what
  // the retention step said.
  async function runAndKeepSource(plan: ReturnType<typeof planOf>, i: number) {
    const { box, store } = sandbox;
    const events: RunEvent[] = [];
    const reporter: RunReporter = { emit: (event) => events.push(event), close: async () => {} };
    const result = await runPlan(plan, { store, reporter, trigger: 'schedule' });
    expect(result.status, result.error?.describe()).toBe('succeeded');
    const snapshot = path.join(box.dir, `source-at-${i}.qcow2`);
    copyFileSync(box.source, snapshot);
    const retention = events.flatMap((event) =>
      event.type === 'info' && event.step === 'retention' ? [event.message] : [],
    );
    return { backupId: result.backupId!, snapshot, retention };
  }

  it('keepChains 2 deletes the oldest chain whole once a third chain is complete; the rest restore exactly', async () => {
    const { box, store } = sandbox;
    const plan = planOf(planDoc(box, 'keep-two', { retention: { keepChains: 2 }, incremental: { maxChainLength: 2 } }));
    const taken: { backupId: string; snapshot: string; file: string }[] = [];
    const retentionLines: string[][] = [];
    for (let i = 0; i < 6; i++) {
      // A different change before each backup, including a range that becomes zero.
      qemuIo(
        box.source,
        `write -P 0x${(0x20 + i).toString(16)} ${i}M 512k`,
        ...(i > 0 ? [`write -z ${i - 1}M 64k`] : []),
      );
      const { backupId, snapshot, retention } = await runAndKeepSource(plan, i);
      const backup = (await store.getBackup(backupId))!;
      taken.push({ backupId: backup.id, snapshot, file: backup.disks[0].file });
      retentionLines.push(retention);
    }

    const chains = await Promise.all(taken.map(async (t) => (await store.getBackup(t.backupId))?.chainId));
    // Runs 0-1 were the first chain: deleted by run 4, when the third chain's full was complete.
    expect(chains.slice(0, 2)).toEqual([undefined, undefined]);
    expect(retentionLines.slice(0, 4).flat()).toEqual([]);
    expect(retentionLines[4]).toEqual([
      `deleted chain ${taken[0].backupId}: 2 backup(s) ${taken[0].backupId}, ${taken[1].backupId}`,
    ]);
    expect(existsSync(taken[0].file)).toBe(false);
    expect(existsSync(taken[1].file)).toBe(false);

    const left = await store.listBackups({ vm: 'vm-keep-two' });
    expect(left.map((backup) => backup.id)).toEqual(taken.slice(2).map((t) => t.backupId));
    expect(new Set(left.map((backup) => backup.chainId)).size).toBe(2);
    for (const t of taken.slice(2)) {
      expect(existsSync(t.file)).toBe(true);
      expect(imagesEqual(t.file, t.snapshot), `backup ${t.backupId} vs the source when it was taken`).toBe(true);
    }
  });

  it('keepLast 2 after each run: the older points are merged into the next one, the chain stays incremental and exact', async () => {
    const { box, store } = sandbox;
    const plan = planOf(planDoc(box, 'keep-last', { retention: { keepLast: 2 } }));
    expect(plan.kind === 'incremental' && plan.incremental.maxChainLength).toBe(Infinity);
    const snapshots = new Map<string, string>();
    for (let i = 0; i < 5; i++) {
      qemuIo(
        box.source,
        `write -P 0x${(0x40 + i).toString(16)} ${i}M 256k`,
        ...(i > 0 ? [`write -z ${i - 1}M 64k`, `discard ${(i + 4) % 8}M 64k`] : []),
      );
      const { backupId, snapshot, retention: said } = await runAndKeepSource(plan, i);
      snapshots.set(backupId, snapshot);
      const left = await store.listBackups({ vm: 'vm-keep-last' });
      expect(left.length).toBe(Math.min(i + 1, 2));
      expect(left.map((backup) => backup.type)).toEqual(i === 0 ? ['full'] : ['full', 'incremental']);
      for (const backup of left)
        expect(imagesEqual(backup.disks[0]!.file, snapshots.get(backup.id)!), `backup ${backup.id}`).toBe(true);
      if (i >= 2) expect(said.join('\n')).toMatch(/merge into .* becomes the full/);
    }
  });

  afterEach(() => vi.useRealTimers());

  it('keepLast 2 counts points in the order they were taken: after the hub clock is set back a day, the point just taken stays', async () => {
    const { box, store } = sandbox;
    const plan = planOf(planDoc(box, 'clock-back', { retention: { keepLast: 2 } }));
    const snapshots = new Map<string, string>();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      // The third run on a clock a day behind (NTP stepping back a hub that ran fast): its point's
      // time is the oldest of the three, yet it is the newest point.
      if (i === 2) vi.useFakeTimers({ toFake: ['Date'], now: Date.now() - 86_400_000, shouldAdvanceTime: true });
      qemuIo(box.source, `write -P 0x${(0x60 + i).toString(16)} ${i}M 256k`);
      const { backupId, snapshot } = await runAndKeepSource(plan, i);
      snapshots.set(backupId, snapshot);
      ids.push(backupId);
    }
    const left = await store.listBackups({ vm: 'vm-clock-back' });
    expect(left.map((backup) => backup.id)).toEqual(ids.slice(1));
    for (const backup of left)
      expect(imagesEqual(backup.disks[0]!.file, snapshots.get(backup.id)!), `backup ${backup.id}`).toBe(true);
  });
});
