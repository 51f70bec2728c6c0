// Retention by points on a real chain of 12 points: prunes with several rule sets in turn, each
// merging unkept points (incrementals and the full) into the next point of the chain; after each,
// every point left equals the source when it was taken, verify passes, and the dry run said so.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { differenceBetween, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import {
  backUpPoints,
  backupsOf,
  expectPointsExact,
  expectVerifyPasses,
  setTakenAt,
  writeRetentionPlan,
} from './point-chain.js';

const ws = useRunWorkspace('prune-points-');
const ports = portRangeForTestFile();

// Point i taken at TIMES[i] (UTC): two in January and February, the rest in March, some on the same day.
const TIMES = [
  '2026-01-10T02:00:00Z',
  '2026-02-03T02:00:00Z',
  '2026-02-20T02:00:00Z',
  '2026-03-02T10:00:00Z',
  '2026-03-02T18:00:00Z',
  '2026-03-09T02:00:00Z',
  '2026-03-10T02:00:00Z',
  '2026-03-11T08:00:00Z',
  '2026-03-11T20:00:00Z',
  '2026-03-12T02:00:00Z',
  '2026-03-13T09:00:00Z',
  '2026-03-13T21:00:00Z',
];

describe('prune by points', () => {
  it(
    'merges unkept incrementals and the full away under several rule sets; kept points stay exact and verified',
    { timeout: 600_000 },
    async () => {
      const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 12);
      setTakenAt(chain, Object.fromEntries(chain.ids.map((id, i) => [id, TIMES[i]!])));
      const p = (...indexes: number[]) => indexes.map((i) => chain.ids[i]!);
      const prune = async (retention: Record<string, number>, dryRun = false) => {
        const plan = writeRetentionPlan(chain, retention);
        const result = await sendenseRun(['prune', plan, '--db', ws.db, ...(dryRun ? ['--dry-run'] : [])]);
        expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
        return result.stdout;
      };
      const filesOf = async (ids: readonly string[]) =>
        (await backupsOf(chain)).filter((b) => ids.includes(b.id)).flatMap((b) => b.disks.map((d) => d.file));

      // 1. keepLast 10: the full (point 0) and point 1 go; point 2 becomes the full.
      const dry = await prune({ keepLast: 10 }, true);
      expect(dry).toContain(`${p(0)[0]} (full, ${TIMES[0]}): merge into ${p(1)[0]} (${p(1)[0]} becomes the full)`);
      expect(dry).toContain(`${p(1)[0]} (incremental, ${TIMES[1]}): merge into ${p(2)[0]}`);
      expect(dry).toContain(`${p(11)[0]} (incremental, ${TIMES[11]}): keep (last 1)`);
      expect(await expectPointsExact(chain)).toEqual(chain.ids); // the dry run changed nothing
      const gone = await filesOf(p(0, 1));
      const bytesBefore = (await backupsOf(chain)).slice(0, 3).reduce((sum, backup) => sum + backup.bytes!, 0);
      const out = await prune({ keepLast: 10 });
      // The merged point counts the bytes copied into its file over time, as its manifest does.
      expect((await backupsOf(chain))[0]!.bytes).toBe(bytesBefore);
      expect(out).toContain('2 point(s) merged');
      expect(await expectPointsExact(chain)).toEqual(p(2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
      for (const file of gone) expect(existsSync(file), file).toBe(false);
      expect(existsSync(gone[0]!.replace(/\.qcow2$/, '.json'))).toBe(false);
      await expectVerifyPasses(chain);

      // 2. keepDaily 5 (days 03-13, 03-12, 03-11, 03-10, 03-09): the earlier of two points a day and the older days go.
      const dryDaily = await prune({ keepDaily: 5 }, true);
      expect(dryDaily).toContain(`${p(11)[0]} (incremental, ${TIMES[11]}): keep (daily 2026-03-13)`);
      expect(dryDaily).toContain(`${p(10)[0]} (incremental, ${TIMES[10]}): merge into ${p(11)[0]}`);
      await prune({ keepDaily: 5 });
      expect(await expectPointsExact(chain)).toEqual(p(5, 6, 8, 9, 11));
      await expectVerifyPasses(chain);

      // 3. keepWeekly 1 + keepMonthly 1: one point stands for this week and this month; ISO week 2026-W11 is 03-09..03-15.
      const dryWeekly = await prune({ keepWeekly: 1, keepMonthly: 1 }, true);
      expect(dryWeekly).toContain(`${p(11)[0]} (incremental, ${TIMES[11]}): keep (weekly 2026-W11, monthly 2026-03)`);
      await prune({ keepWeekly: 1, keepMonthly: 1 });
      expect(await expectPointsExact(chain)).toEqual(p(11));
      await expectVerifyPasses(chain);

      // The chain goes on from the merged point: the next incremental is exact.
      writeDisk(chain.disks[0]!.path, ['write -P 0x77 9M 1M', 'write -z 0 64k']);
      const next = await sendenseRun([writeRetentionPlan(chain, { keepLast: 2 }), '--db', ws.db]);
      expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
      const [merged, latest] = await backupsOf(chain);
      expect(merged!.id).toBe(p(11)[0]);
      expect(latest!.type).toBe('incremental');
      expect(latest!.parentId).toBe(merged!.id);
      for (const disk of latest!.disks)
        expect(differenceBetween(disk.file, chain.disks.find((d) => d.key === disk.diskKey)!.path)).toBe('');
      expect(path.dirname(latest!.disks[0]!.file)).toBe(path.dirname(merged!.disks[0]!.file));
    },
  );
});
