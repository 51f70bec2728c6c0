// keepHourly on a real chain of 6 points taken over a few hours: the dry run names the hourly rule
// among those keeping each point, the prune merges the unkept points (the same crash-safe merges as
// the other rules), and every point left equals the source when it was taken; verify passes.

import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { backUpPoints, expectPointsExact, expectVerifyPasses, setTakenAt, writeRetentionPlan } from './point-chain.js';

const ws = useRunWorkspace('prune-hourly-');
const ports = portRangeForTestFile();

// Point i taken at TIMES[i] (UTC): the evening before, then two an hour in the morning.
const TIMES = [
  '2026-03-12T22:00:00Z',
  '2026-03-13T08:10:00Z',
  '2026-03-13T08:40:00Z',
  '2026-03-13T09:15:00Z',
  '2026-03-13T10:05:00Z',
  '2026-03-13T10:45:00Z',
];

describe('keepHourly', () => {
  it(
    'keeps the newest point of each of the last N hours; the dry run names the rule; kept points stay exact',
    { timeout: 300_000 },
    async () => {
      const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, TIMES.length);
      setTakenAt(chain, Object.fromEntries(chain.ids.map((id, i) => [id, TIMES[i]!])));
      const p = (i: number) => chain.ids[i]!;
      const plan = writeRetentionPlan(chain, { keepHourly: 2, keepDaily: 2 });
      expect((await sendenseRun(['validate', plan])).exitCode).toBe(0);

      const dry = await sendenseRun(['prune', plan, '--dry-run', '--db', ws.db]);
      expect(dry.exitCode, `${dry.stdout}\n${dry.stderr}`).toBe(0);
      // hourly: 10:xx (point 5), 09:xx (point 3); daily: 03-13 is covered, so 03-12 (point 0).
      expect(dry.stdout).toContain(`${p(5)} (incremental, ${TIMES[5]}): keep (hourly 2026-03-13T10, daily 2026-03-13)`);
      expect(dry.stdout).toContain(`${p(3)} (incremental, ${TIMES[3]}): keep (hourly 2026-03-13T09)`);
      expect(dry.stdout).toContain(`${p(0)} (full, ${TIMES[0]}): keep (daily 2026-03-12)`);
      expect(dry.stdout).toContain(`${p(4)} (incremental, ${TIMES[4]}): merge into ${p(5)}`);
      expect(await expectPointsExact(chain)).toEqual(chain.ids);

      const pruned = await sendenseRun(['prune', plan, '--db', ws.db]);
      expect(pruned.exitCode, `${pruned.stdout}\n${pruned.stderr}`).toBe(0);
      expect(pruned.stdout).toContain('3 point(s) merged');
      expect(await expectPointsExact(chain)).toEqual([p(0), p(3), p(5)]);
      await expectVerifyPasses(chain);
    },
  );
});
