// A copy of a chain over SSH, through the real CLI (docs/copies.md): full + 2 incrementals copied;
// then more backups and prunes on the hub, which merge its oldest points (a point's file there
// becomes a full where the copy has an incremental of the same id), and more copies: the copy keeps
// every point it had plus the new ones, only the new points' files are sent, and every point on
// the copy restores exactly, from the copy alone, after catalog import into a database of its own.

import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeRestorePlan, restoredDifference } from '../restore/restore-plan.js';
import { backUpPoints, backupsOf, writeRetentionPlan, type PointChain } from '../retention/point-chain.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import {
  backUpAgain,
  filesUnder,
  importedAndVerified,
  rows,
  runCopy,
  useCopySshd,
  writeCopyPlan,
} from './copy-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-copy-chain-');
const node = useCopySshd();

async function prune(chain: PointChain, keepLast: number): Promise<void> {
  const result = await sendenseRun(['prune', writeRetentionPlan(chain, { keepLast }), '--db', chain.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
}

// The hub's files of a point, in bytes: what a copy of it sends (besides its small manifests).
async function hubBytes(chain: PointChain, id: string): Promise<number> {
  const backup = (await backupsOf(chain)).find((candidate) => candidate.id === id)!;
  return backup.disks.reduce((sum, disk) => sum + statSync(disk.file).size, 0);
}

describe('a copy of a chain over SSH', () => {
  it('keeps every point it had through the hub\u2019s merges, sends only the new points, and every point restores exactly from it', async () => {
    const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 3);
    const offsite = path.join(ws.dir, 'offsite');
    const plan = writeCopyPlan(ws.dir, node.sshd, { repository: ws.repository, to: offsite, vm: chain.vm });
    const hubBackups = (await backupsOf(chain)).length;

    const first = await runCopy(plan, ws.db);
    expect(first).toMatchObject({ pointsSent: 3, pointsThere: 0, filesSent: 6, filesKept: 0 });
    expect(await runCopy(plan, ws.db)).toMatchObject({ pointsSent: 0, pointsThere: 3, filesSent: 0, bytes: 0 });

    // A fourth point, then keepLast 3 merges the hub's first point into its second (now the full).
    const fourth = await backUpAgain(chain, 1);
    await prune(chain, 3);
    expect((await backupsOf(chain)).map((backup) => backup.id)).toEqual(chain.ids.slice(1));
    const second = await runCopy(plan, ws.db);
    // The hub's points the copy has: the second (an incremental on the copy, a full on the hub now) and the third.
    expect(second).toMatchObject({ pointsSent: 1, pointsThere: 2, filesSent: 2 });
    // Only the new point's files (and its two small manifests) went over.
    const newLayers = await hubBytes(chain, fourth);
    expect(second.bytes).toBeGreaterThanOrEqual(newLayers);
    expect(second.bytes).toBeLessThan(newLayers + 64 * 1024);

    // Two more, and keepLast 2 merges three points: the hub's fifth point is now a full the copy lacks.
    await backUpAgain(chain, 2);
    await backUpAgain(chain, 3);
    await prune(chain, 2);
    expect((await backupsOf(chain)).map((backup) => backup.type)).toEqual(['full', 'incremental']);
    expect(await runCopy(plan, ws.db)).toMatchObject({ pointsSent: 2, pointsThere: 0 });

    // Every point the copy was ever sent is there, a repository of its own; the hub recorded no backup of it.
    const manifests = filesUnder(offsite).filter((file) => file.endsWith('.json'));
    expect(new Set(manifests.map((file) => path.basename(file, '.json')))).toEqual(new Set(chain.ids));
    expect(filesUnder(offsite).filter((file) => file.endsWith('.partial'))).toEqual([]);
    expect(filesUnder(offsite)).toContain('.sendense-repository');
    expect((await backupsOf(chain)).length).toBeLessThanOrEqual(hubBackups);
    expect(rows(ws.db, 'node_resources')).toEqual([]);

    // From the copy alone: its own database, verify, and a restore of every point.
    const copyDb = await importedAndVerified(offsite, path.join(ws.dir, 'copy.db'));
    for (const [index, id] of chain.ids.entries()) {
      const restorePlan = writeRestorePlan(ws.dir, {
        name: `from-copy-${index}`,
        vm: chain.vm,
        repository: offsite,
        ports,
        point: id,
        target: { type: 'file', path: path.join(ws.dir, `restored-${index}-{key}.qcow2`), format: 'qcow2' },
      });
      const restored = await sendenseRun([restorePlan, '--db', copyDb]);
      expect(restored.exitCode, `${restored.stdout}\n${restored.stderr}`).toBe(0);
      for (const disk of chain.disks) {
        expect(
          restoredDifference(
            chain.copies[id]![disk.key]!,
            path.join(ws.dir, `restored-${index}-${disk.key}.qcow2`),
            'qcow2',
          ),
          `point ${index} disk ${disk.key}`,
        ).toBe('');
      }
    }
  }, 300_000);
});
