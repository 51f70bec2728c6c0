// A copy's own retention over SSH, through the real CLI (docs/copies.md#retention): copy.retention
// merges the copy's unkept points there, whatever the hub keeps; a point the copy merged away is
// never sent again; a point the hub pruned stays on the copy while the copy's rules keep it; a
// merge killed half-way is finished by doctor (or the next run). After each: every point left on
// the copy restores exactly from the copy alone, and verify finds no damage there.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoredDifference, writeRestorePlan } from '../restore/restore-plan.js';
import { backUpPoints, backupsOf, setTakenAt, writeRetentionPlan, type PointChain } from '../retention/point-chain.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { backUpAgain, filesUnder, rows, runCopy, useCopySshd, writeCopyPlan } from './copy-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-copy-retention-');
const node = useCopySshd();

// Ids sorted as text: two points taken in one second sort by their random tail, not their order.
const sorted = (ids: readonly string[]): string[] => [...ids].sort();

// The points on the copy, by their manifests (every disk has one), sorted as text.
function copyPoints(offsite: string, vm: string): string[] {
  const ids = filesUnder(path.join(offsite, vm))
    .filter((file) => file.startsWith('disk-2000/') && file.endsWith('.json'))
    .map((file) => path.basename(file, '.json'));
  return ids.sort();
}

// From the copy alone: a database of its own, verify, and every point restored exactly.
async function expectCopyExact(chain: PointChain, offsite: string, label: string): Promise<void> {
  const copyDb = path.join(ws.dir, `copy-${label}.db`);
  const imported = await sendenseRun(['catalog', 'import', offsite, '--db', copyDb]);
  expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
  const verified = await sendenseRun(['verify', '--db', copyDb]);
  expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
  expect(verified.stdout).toContain('no damage found');
  for (const id of copyPoints(offsite, chain.vm)) {
    const restorePlan = writeRestorePlan(ws.dir, {
      name: `from-copy-${label}-${id}`,
      vm: chain.vm,
      repository: offsite,
      ports,
      point: id,
      target: { type: 'file', path: path.join(ws.dir, `restored-${label}-${id}-{key}.qcow2`), format: 'qcow2' },
    });
    const restored = await sendenseRun([restorePlan, '--db', copyDb]);
    expect(restored.exitCode, `${restored.stdout}\n${restored.stderr}`).toBe(0);
    for (const disk of chain.disks) {
      expect(restoredDifference(chain.copies[id]![disk.key]!, path.join(ws.dir, `restored-${label}-${id}-${disk.key}.qcow2`), 'qcow2'), `${label}: point ${id} disk ${disk.key}`).toBe('');
    }
  }
}

describe('a copy with its own retention', () => {
  it('keeps what copy.retention keeps, longer or shorter than the hub, never resends what it merged away, and every point it keeps is exact', async () => {
    const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 4, 'vmr');
    const offsite = path.join(ws.dir, 'offsite');
    const plan = writeCopyPlan(ws.dir, node.sshd, { repository: ws.repository, to: offsite, vm: chain.vm, retention: { keepLast: 2 } });

    // Four points sent, two kept: the oldest two merged into the third there.
    expect(await runCopy(plan, ws.db)).toMatchObject({ pointsSent: 4, pointsThere: 0 });
    expect(copyPoints(offsite, chain.vm)).toEqual(sorted(chain.ids.slice(2)));
    await expectCopyExact(chain, offsite, 'a');
    // The hub still has all four: the two merged away are not sent again.
    expect((await backupsOf(chain)).length).toBe(4);
    expect(await runCopy(plan, ws.db)).toMatchObject({ pointsSent: 0, pointsThere: 2, bytes: 0 });
    expect(copyPoints(offsite, chain.vm)).toEqual(sorted(chain.ids.slice(2)));

    // A copy that keeps more than the hub: the hub's keepLast 2 drops points the copy's keepLast 5 keeps.
    const longer = writeCopyPlan(ws.dir, node.sshd, { name: 'longer', repository: ws.repository, to: path.join(ws.dir, 'longer'), vm: chain.vm, retention: { keepLast: 5 } });
    expect(await runCopy(longer, ws.db)).toMatchObject({ pointsSent: 4 });
    for (let round = 1; round <= 3; round++) {
      await backUpAgain(chain, round);
      const pruned = await sendenseRun(['prune', writeRetentionPlan(chain, { keepLast: 2 }), '--db', ws.db]);
      expect(pruned.exitCode, pruned.stdout + pruned.stderr).toBe(0);
      await runCopy(longer, ws.db);
      await runCopy(plan, ws.db);
    }
    expect((await backupsOf(chain)).map((backup) => backup.id)).toEqual(chain.ids.slice(-2));
    expect(copyPoints(path.join(ws.dir, 'longer'), chain.vm)).toEqual(sorted(chain.ids.slice(-5)));
    expect(copyPoints(offsite, chain.vm)).toEqual(sorted(chain.ids.slice(-2)));
    expect(filesUnder(offsite).filter((file) => /\.partial$|\.merge$|\.sendense-merge$/.test(file))).toEqual([]);
    expect(rows(ws.db, 'node_resources')).toEqual([]);
    await expectCopyExact(chain, path.join(ws.dir, 'longer'), 'longer');
    await expectCopyExact(chain, offsite, 'b');
  }, 600_000);

  it('a hub point whose parent the copy merged away is sent on the point that holds that parent now, and is exact', async () => {
    const dir = path.join(ws.dir, 'mixed');
    mkdirSync(dir);
    const chain = await backUpPoints(dir, path.join(dir, 'state.db'), path.join(dir, 'repository'), ports, 2, 'vmm');
    const [p, x] = chain.ids as [string, string];
    const offsite = path.join(dir, 'offsite');
    // The copy keeps the newest point only: p is merged into x there.
    const plan = writeCopyPlan(dir, node.sshd, { repository: chain.repository, to: offsite, vm: chain.vm, retention: { keepLast: 1 } });
    expect(await runCopy(plan, chain.db)).toMatchObject({ pointsSent: 2 });
    expect(copyPoints(offsite, chain.vm)).toEqual([x]);
    // The hub keeps the newest point of each day: p (day 1) and y (day 2), so x is merged into y there and y's parent is p.
    const y = await backUpAgain(chain, 1);
    setTakenAt(chain, { [p]: '2026-11-01T12:00:00Z', [x]: '2026-11-02T10:00:00Z', [y]: '2026-11-02T11:00:00Z' });
    const pruned = await sendenseRun(['prune', writeRetentionPlan(chain, { keepDaily: 2 }), '--db', chain.db]);
    expect(pruned.exitCode, pruned.stdout + pruned.stderr).toBe(0);
    expect((await backupsOf(chain)).map((backup) => [backup.id, backup.parentId])).toEqual([
      [p, null],
      [y, p],
    ]);
    expect(await runCopy(plan, chain.db)).toMatchObject({ pointsSent: 1, pointsThere: 0 });
    expect(copyPoints(offsite, chain.vm)).toEqual([y]);
    await expectCopyExact(chain, offsite, 'mixed');
  }, 300_000);

  for (const moment of ['copy-merge-planned', 'copy-merge-disk']) {
    it(`killed at ${moment}: doctor finishes the merge there, every point is exact, the next run goes on`, async () => {
      const dir = path.join(ws.dir, moment);
      mkdirSync(dir);
      const chain = await backUpPoints(dir, path.join(dir, 'state.db'), path.join(dir, 'repository'), ports, 3, `vmk`);
      const offsite = path.join(dir, 'offsite');
      const plan = writeCopyPlan(dir, node.sshd, { repository: chain.repository, to: offsite, vm: chain.vm, retention: { keepLast: 2 } });
      const killed = await startSendenseRun([plan, '--db', chain.db], { SENDENSE_TEST_KILL_MERGE_AT: moment }).exited;
      expect(killed.signal).toBe('SIGKILL');
      expect(filesUnder(offsite)).toContain(`${chain.vm}/.sendense-merge`);
      const doctor = await sendenseRun(['doctor', '--db', chain.db]);
      expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);
      expect(doctor.stdout).toMatch(/merge on a copy of VM vmk/);
      expect(filesUnder(offsite).filter((file) => /\.partial$|\.merge$|\.sendense-merge$/.test(file))).toEqual([]);
      expect(copyPoints(offsite, chain.vm)).toEqual(sorted(chain.ids.slice(1)));
      expect(rows(chain.db, 'node_resources')).toEqual([]);
      await expectCopyExact(chain, offsite, moment);
      await backUpAgain(chain, 1);
      expect(await runCopy(plan, chain.db)).toMatchObject({ pointsSent: 1, pointsThere: 2 });
      expect(copyPoints(offsite, chain.vm)).toEqual(sorted(chain.ids.slice(-2)));
      await expectCopyExact(chain, offsite, `${moment}-after`);
    }, 300_000);
  }
});
