// history keeps what each run did as it ended (docs/commands.md#history): a prune that merges the
// points of earlier runs leaves their kind, bytes and backup id as they were and says what became
// of each point apart (merged into the point that holds its data now); a restore's history line
// names the backup it read, and its run-end counts every disk's bytes.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { writeRestorePlan } from '../restore/restore-plan.js';
import { backUpPoints, writeRetentionPlan } from './point-chain.js';

const ws = useRunWorkspace('history-record-');
const ports = portRangeForTestFile();

interface HistoryLine {
  readonly id: string;
  readonly kind: string;
  readonly taken: string | null;
  readonly bytes: number | null;
  readonly backupId: string | null;
  readonly point: { readonly state: string; readonly mergedInto?: string } | null;
}

async function history(db: string): Promise<HistoryLine[]> {
  const result = await sendenseRun(['history', '--json', '--db', db]);
  expect(result.exitCode, result.stderr).toBe(0);
  return result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as HistoryLine);
}

describe('history across retention', () => {
  it(
    'a prune that merges earlier points leaves their runs as they ended; the merge is the point’s own fact',
    { timeout: 300_000 },
    async () => {
      const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 3);
      const before = await history(ws.db);
      const runs = before.filter((line) => line.backupId !== null);
      expect(runs.map((line) => line.backupId)).toEqual([...chain.ids].reverse());
      expect(runs.map((line) => line.taken)).toEqual(['incremental', 'incremental', 'full']);
      for (const line of runs) expect(line.point).toEqual({ state: 'complete' });

      const prune = await sendenseRun(['prune', writeRetentionPlan(chain, { keepLast: 1 }), '--db', ws.db]);
      expect(prune.exitCode, `${prune.stdout}\n${prune.stderr}`).toBe(0);
      expect(prune.stdout).toContain('2 point(s) merged');

      const after = await history(ws.db);
      const newest = chain.ids[2]!;
      for (const line of runs) {
        const now = after.find((candidate) => candidate.id === line.id)!;
        expect({ taken: now.taken, bytes: now.bytes, backupId: now.backupId }).toEqual({
          taken: line.taken,
          bytes: line.bytes,
          backupId: line.backupId,
        });
        expect(now.point).toEqual(
          line.backupId === newest ? { state: 'complete' } : { state: 'merged', mergedInto: newest },
        );
      }
      const table = await sendenseRun(['history', '--db', ws.db]);
      const row = table.stdout.split('\n').find((text) => text.includes(chain.ids[0]!))!;
      expect(row).toMatch(/ full +\S+ +\S+ +\S+ +\S+ /);
      expect(row).toContain(`merged into ${newest}`);
    },
  );

  it(
    'a restore run names the backup it read in history, and its run-end counts each disk’s bytes',
    { timeout: 300_000 },
    async () => {
      const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 2);
      const out = path.join(ws.dir, 'restored');
      mkdirSync(out);
      const plan = writeRestorePlan(ws.dir, {
        name: 'restore-history',
        vm: chain.vm,
        repository: chain.repository,
        ports,
        point: 'latest',
        target: { type: 'file', path: path.join(out, 'disk-{key}.qcow2'), format: 'qcow2' },
      });
      const result = await sendenseRun([plan, '--db', ws.db, '--json']);
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
      const events = result.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const end = events.find((event) => event.type === 'run-end') as {
        runId: string;
        backupId: string;
        bytes: number;
        disks: { key: number; bytes: number | null }[];
      };
      expect(end.backupId).toBe(chain.ids[1]);
      expect(end.disks.map((disk) => disk.key)).toEqual(chain.disks.map((disk) => disk.key));
      // The data the chain holds: each disk had at least 4 MiB written before the first point.
      for (const disk of end.disks) expect(disk.bytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
      expect(end.bytes).toBe(end.disks.reduce((sum, disk) => sum + disk.bytes!, 0));

      const line = (await history(ws.db)).find((candidate) => candidate.id === end.runId)!;
      expect(line).toMatchObject({
        kind: 'restore',
        taken: 'restore',
        backupId: chain.ids[1],
        bytes: end.bytes,
        point: { state: 'complete' },
      });
    },
  );
});
