// A copy's own retention over SSH, through the real CLI (docs/copies.md#retention): copy.retention
// merges the copy's unkept points there, whatever the hub keeps; a point the copy merged away is
// never sent again; a point the hub pruned stays on the copy while the copy's rules keep it. After
// each: every point left on the copy restores exactly from the copy alone, and verify finds no
// damage there. A hub point on a parent merged away, and merges killed half-way:
// ./copy-retention-more.test.ts.

import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backUpPoints, backupsOf, writeRetentionPlan } from '../retention/point-chain.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { copyPoints, expectCopyExact, sorted } from './copy-retention-checks.js';
import { backUpAgain, filesUnder, rows, runCopy, useCopySshd, writeCopyPlan } from './copy-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-copy-retention-');
const node = useCopySshd();

describe('a copy with its own retention', () => {
  it('keeps what copy.retention keeps, longer or shorter than the hub, never resends what it merged away, and every point it keeps is exact', async () => {
    const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 4, 'vmr');
    const offsite = path.join(ws.dir, 'offsite');
    const plan = writeCopyPlan(ws.dir, node.sshd, {
      repository: ws.repository,
      to: offsite,
      vm: chain.vm,
      retention: { keepLast: 2 },
    });

    // Four points sent, two kept: the oldest two merged into the third there.
    expect(await runCopy(plan, ws.db)).toMatchObject({ pointsSent: 4, pointsThere: 0 });
    expect(copyPoints(offsite, chain.vm)).toEqual(sorted(chain.ids.slice(2)));
    await expectCopyExact(ws.dir, ports, chain, offsite, 'a');
    // The hub still has all four: the two merged away are not sent again.
    expect((await backupsOf(chain)).length).toBe(4);
    expect(await runCopy(plan, ws.db)).toMatchObject({ pointsSent: 0, pointsThere: 2, bytes: 0 });
    expect(copyPoints(offsite, chain.vm)).toEqual(sorted(chain.ids.slice(2)));

    // A copy that keeps more than the hub: the hub's keepLast 2 drops points the copy's keepLast 5 keeps.
    const longer = writeCopyPlan(ws.dir, node.sshd, {
      name: 'longer',
      repository: ws.repository,
      to: path.join(ws.dir, 'longer'),
      vm: chain.vm,
      retention: { keepLast: 5 },
    });
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
    await expectCopyExact(ws.dir, ports, chain, path.join(ws.dir, 'longer'), 'longer');
    await expectCopyExact(ws.dir, ports, chain, offsite, 'b');
  }, 600_000);
});
