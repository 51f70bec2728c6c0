// A damaged chain replaced by the next run leaves no bitmap behind (docs/how-it-works.md#damaged-points):
// the damaged newest point's bitmap is normal to doctor until that run supersedes it, then it goes.

import { describe, expect, it } from 'vitest';
import { backUpPoints, backupsOf, writeRetentionPlan } from '../retention/point-chain.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { bitmapNames, portRangeForTestFile } from '../support/vm-disks.js';
import { flipBit } from '../verify/chain-fixture.js';

const ws = useRunWorkspace('damaged-bitmaps-');
const ports = portRangeForTestFile();

describe('bitmaps of a damaged chain', () => {
  it(
    'doctor finds nothing after verify marks damage and after the next run replaces the chain',
    { timeout: 300_000 },
    async () => {
      const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 2, 'vmg');
      flipBit((await backupsOf(chain))[1]!.disks[0]!.file, 'data cluster');
      expect((await sendenseRun(['verify', '--vm', 'vmg', '--db', ws.db])).exitCode).toBe(1);
      const doctor = () => sendenseRun(['doctor', '--dry-run', '--db', ws.db]);
      const before = await doctor();
      expect(before.exitCode, `${before.stdout}\n${before.stderr}`).toBe(0);

      const next = await sendenseRun([writeRetentionPlan(chain, undefined, 'build'), '--db', ws.db]);
      expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
      const full = (await backupsOf(chain)).at(-1)!;
      expect(full.type).toBe('full');
      for (const disk of chain.disks)
        expect(bitmapNames(disk.path)).toEqual([full.disks.find((d) => d.diskKey === disk.key)!.changeId]);
      const after = await doctor();
      expect(after.exitCode, `${after.stdout}\n${after.stderr}`).toBe(0);
    },
  );
});
