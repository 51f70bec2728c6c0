// A copy's own retention over SSH (docs/copies.md#retention), beside ./copy-retention.test.ts: a
// hub point whose parent the copy merged away is sent on the point that holds that parent now, and
// a merge killed half-way is finished by doctor (or the next run), a point protected on the hub is
// kept there until it is unprotected. After each: every point left on
// the copy restores exactly from the copy alone, and verify finds no damage there.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backUpPoints, backupsOf, setTakenAt, writeRetentionPlan } from '../retention/point-chain.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { copyPoints, expectCopyExact, sorted } from './copy-retention-checks.js';
import { backUpAgain, filesUnder, rows, runCopy, useCopySshd, writeCopyPlan } from './copy-support.js';
import { killAtEnv } from '../../src/crash-points.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-copy-retention-more-');
const node = useCopySshd();

describe('a copy with its own retention', () => {
  it('a hub point whose parent the copy merged away is sent on the point that holds that parent now, and is exact', async () => {
    const dir = path.join(ws.dir, 'mixed');
    mkdirSync(dir);
    const chain = await backUpPoints(dir, path.join(dir, 'state.db'), path.join(dir, 'repository'), ports, 2, 'vmm');
    const [p, x] = chain.ids as [string, string];
    const offsite = path.join(dir, 'offsite');
    // The copy keeps the newest point only: p is merged into x there.
    const plan = writeCopyPlan(dir, node.sshd, {
      repository: chain.repository,
      to: offsite,
      vm: chain.vm,
      retention: { keepLast: 1 },
    });
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
    await expectCopyExact(ws.dir, ports, chain, offsite, 'mixed');
  }, 300_000);

  it("a point protected on the hub is kept by the copy's retention; unprotected there, the next copy run merges it", async () => {
    const dir = path.join(ws.dir, 'protected');
    mkdirSync(dir);
    const chain = await backUpPoints(dir, path.join(dir, 'state.db'), path.join(dir, 'repository'), ports, 3, 'vmp');
    const [p0, p1, p2] = chain.ids as [string, string, string];
    const marked = await sendenseRun(['protect', chain.vm, '--point', p1, '--db', chain.db]);
    expect(marked.exitCode, marked.stdout + marked.stderr).toBe(0);
    const offsite = path.join(dir, 'offsite');
    const plan = writeCopyPlan(dir, node.sshd, {
      repository: chain.repository,
      to: offsite,
      vm: chain.vm,
      retention: { keepLast: 1 },
    });
    // keepLast 1 keeps p2; p1 is protected on the hub, so p0 (whose next point is p1) is not merged into it either.
    expect(await runCopy(plan, chain.db)).toMatchObject({ pointsSent: 3 });
    expect(copyPoints(offsite, chain.vm)).toEqual(sorted([p0, p1, p2]));
    await expectCopyExact(ws.dir, ports, chain, offsite, 'protected');
    const unmarked = await sendenseRun(['unprotect', chain.vm, '--point', p1, '--db', chain.db]);
    expect(unmarked.exitCode, unmarked.stdout + unmarked.stderr).toBe(0);
    expect(await runCopy(plan, chain.db)).toMatchObject({ pointsSent: 0, pointsThere: 3 });
    expect(copyPoints(offsite, chain.vm)).toEqual([p2]);
    await expectCopyExact(ws.dir, ports, chain, offsite, 'unprotected');
  }, 300_000);

  for (const moment of ['copy.merge-planned', 'copy.merge-disk'] as const) {
    it(`killed at ${moment}: doctor finishes the merge there, every point is exact, the next run goes on`, async () => {
      const dir = path.join(ws.dir, moment);
      mkdirSync(dir);
      const chain = await backUpPoints(dir, path.join(dir, 'state.db'), path.join(dir, 'repository'), ports, 3, `vmk`);
      const offsite = path.join(dir, 'offsite');
      const plan = writeCopyPlan(dir, node.sshd, {
        repository: chain.repository,
        to: offsite,
        vm: chain.vm,
        retention: { keepLast: 2 },
      });
      const killed = await startSendenseRun([plan, '--db', chain.db], killAtEnv(moment)).exited;
      expect(killed.signal).toBe('SIGKILL');
      expect(filesUnder(offsite)).toContain(`${chain.vm}/.sendense-merge`);
      const doctor = await sendenseRun(['doctor', '--db', chain.db]);
      expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);
      expect(doctor.stdout).toMatch(/merge on a copy of VM vmk/);
      expect(filesUnder(offsite).filter((file) => /\.partial$|\.merge$|\.sendense-merge$/.test(file))).toEqual([]);
      expect(copyPoints(offsite, chain.vm)).toEqual(sorted(chain.ids.slice(1)));
      expect(rows(chain.db, 'node_resources')).toEqual([]);
      await expectCopyExact(ws.dir, ports, chain, offsite, moment.replace('.', '-'));
      await backUpAgain(chain, 1);
      expect(await runCopy(plan, chain.db)).toMatchObject({ pointsSent: 1, pointsThere: 2 });
      expect(copyPoints(offsite, chain.vm)).toEqual(sorted(chain.ids.slice(-2)));
      await expectCopyExact(ws.dir, ports, chain, offsite, `${moment.replace('.', '-')}-after`);
    }, 300_000);
  }
});
