// kill -9 of `sendense-run prune` at each phase of a merge — intent recorded, merged manifests
// written, mid-copy, copied, renamed, files done before the database — for an incremental merged
// into its child and for the full folded forward: every point left is exact even before doctor
// (read with -U beside the killed run's qemu-nbd), a run of the VM refuses the unfinished merge,
// doctor finishes it (or rolls it back when no file was changed), and then every point is exact,
// verify passes, and the next incremental is exact.

import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeRestorePlan } from '../restore/restore-plan.js';
import { recordedProcesses, tableRows } from '../support/process-tree.js';
import { killIfAlive } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { differenceBetween, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import {
  backUpPoints,
  backupsOf,
  differenceFromSource,
  expectPointsExact,
  expectVerifyPasses,
  setTakenAt,
  writeRetentionPlan,
  type PointChain,
} from './point-chain.js';
import { killAtEnv } from '../../src/crash-points.js';

const ws = useRunWorkspace('merge-crash-', { per: 'file' });
const ports = portRangeForTestFile();
const PHASES = ['planned', 'prepared', 'copy', 'copied', 'renamed', 'files-done'] as const;
// Killed before any existing file was changed (at most the merged manifests were written beside): doctor rolls back.
const ROLLS_BACK: readonly string[] = ['planned', 'prepared'];
// Above the kernel's largest PID (pid_max is at most 2^22): no process has it.
const DEAD_PID = 99_999_999;

let chain: PointChain;

// Each day one point, from 2026-01-01.
const day = (n: number, hour = 2) => new Date(Date.UTC(2026, 0, 1 + n, hour)).toISOString();

async function killedPrune(retention: Record<string, number>, phase: (typeof PHASES)[number]): Promise<void> {
  const result = await sendenseRun(['prune', writeRetentionPlan(chain, retention), '--db', ws.db], {
    ...killAtEnv(`merge.${phase}`),
  });
  expect(result.exitCode, `killed at ${phase}: ${result.stdout}\n${result.stderr}`).toBe(-1);
}

// Every point other than `going` reads exactly as the source did, whatever state the files are in.
async function expectOthersExact(going: string): Promise<void> {
  for (const backup of await backupsOf(chain)) {
    if (backup.id === going) continue;
    for (const disk of backup.disks)
      expect(
        differenceFromSource(disk.file, chain.copies[backup.id]![disk.diskKey]!),
        `${backup.id} disk ${disk.diskKey}`,
      ).toBe('');
  }
}

// Before doctor: verify leaves the VM's points unjudged (reading a half-merged file would mark every
// kept point damaged), and files and mount refuse, as runs and restores do.
async function expectNothingReadsThroughTheMerge(going: string, child: string): Promise<void> {
  const verified = await sendenseRun(['verify', '--db', ws.db]);
  expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
  expect(verified.stdout).toContain(
    `not verified: VM ${chain.vm} has an unfinished merge of backup ${going} into ${child}`,
  );
  expect((await backupsOf(chain)).filter((backup) => backup.status !== 'complete').map((backup) => backup.id)).toEqual(
    [],
  );
  const single = await sendenseRun(['verify', '--vm', chain.vm, '--db', ws.db]);
  expect(single.exitCode).toBe(1);
  expect(single.stderr).toContain(`unfinished merge of backup ${going} into ${child}`);
  const mountDir = path.join(ws.dir, 'mnt');
  mkdirSync(mountDir, { recursive: true });
  for (const argv of [
    ['files', chain.vm],
    ['mount', chain.vm, mountDir],
  ]) {
    const refused = await sendenseRun([...argv, '--db', ws.db]);
    expect(refused.exitCode, `${argv[0]}: ${refused.stdout}\n${refused.stderr}`).toBe(1);
    expect(refused.stderr).toContain(`unfinished merge of backup ${going} into ${child}`);
  }
}

async function doctor(): Promise<string> {
  const result = await sendenseRun(['doctor', '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  for (const record of recordedProcesses(ws.db)) killIfAlive(record);
  expect(recordedProcesses(ws.db)).toEqual([]);
  expect(tableRows(ws.db, 'merges')).toEqual([]);
  return result.stdout;
}

describe('a merge killed at any phase', () => {
  it('builds a chain of 14 points', { timeout: 600_000 }, async () => {
    chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 14, 'vmk');
    setTakenAt(chain, Object.fromEntries(chain.ids.map((id, i) => [id, day(i)])));
  });

  for (const phase of PHASES) {
    it(
      `an incremental merged into its child, killed at ${phase}: kept points exact before and after doctor`,
      { timeout: 300_000 },
      async () => {
        const left = (await backupsOf(chain)).map((b) => b.id);
        // The second-newest point moves to the morning of the newest one's day: keepDaily keeps all but it.
        const going = left.at(-2)!;
        const child = left.at(-1)!;
        setTakenAt(chain, { [going]: day(chain.ids.indexOf(child), 1) });
        await killedPrune({ keepDaily: 100 }, phase);
        await expectOthersExact(going);
        await expectNothingReadsThroughTheMerge(going, child);
        if (phase === 'copy') {
          const refused = await sendenseRun([writeRetentionPlan(chain, { keepDaily: 100 }), '--db', ws.db]);
          expect(refused.exitCode).toBe(1);
          expect(`${refused.stdout}${refused.stderr}`).toContain(`unfinished merge of backup ${going} into ${child}`);
          const restore = writeRestorePlan(ws.dir, {
            name: 'vmk-restore',
            vm: chain.vm,
            repository: ws.repository,
            ports,
            point: 'latest',
            target: { type: 'file', path: path.join(ws.dir, 'restored-{key}.qcow2'), format: 'qcow2' },
          });
          const refusedRestore = await sendenseRun([restore, '--db', ws.db]);
          expect(refusedRestore.exitCode).toBe(1);
          expect(`${refusedRestore.stdout}${refusedRestore.stderr}`).toContain(
            `unfinished merge of backup ${going} into ${child}`,
          );
        }
        // A kill between writing the pending manifest and renaming it leaves its temp file, as young
        // as the kill (the fault campaign's find): rolling back removes it with the manifest.
        const temps = chain.disks.map((disk) =>
          path.join(ws.repository, chain.vm, `disk-${disk.key}`, `.${child}.json.merge.${DEAD_PID}.tmp`),
        );
        if (ROLLS_BACK.includes(phase)) for (const temp of temps) writeFileSync(temp, '{"partial');
        const said = await doctor();
        expect(said).toContain(`interrupted merge of backup ${going} into ${child}`);
        expect(said).toContain(
          ROLLS_BACK.includes(phase) ? 'roll it back (no file was changed yet): done' : 'finish it: done',
        );
        for (const disk of chain.disks)
          expect(
            readdirSync(path.join(ws.repository, chain.vm, `disk-${disk.key}`)).filter((f) => f.includes('.merge')),
          ).toEqual([]);
        const after = await expectPointsExact(chain);
        expect(after.includes(going)).toBe(ROLLS_BACK.includes(phase));
        if (ROLLS_BACK.includes(phase)) {
          // Rolled back: the prune runs again to the end.
          const again = await sendenseRun(['prune', writeRetentionPlan(chain, { keepDaily: 100 }), '--db', ws.db]);
          expect(again.exitCode, again.stderr).toBe(0);
          expect(await expectPointsExact(chain)).not.toContain(going);
        }
      },
    );
  }

  for (const phase of PHASES) {
    it(
      `the full folded forward, killed at ${phase}: kept points exact before and after doctor`,
      { timeout: 300_000 },
      async () => {
        const left = (await backupsOf(chain)).map((b) => b.id);
        const full = left[0]!;
        await killedPrune({ keepLast: left.length - 1 }, phase);
        await expectOthersExact(full);
        await expectNothingReadsThroughTheMerge(full, left[1]!);
        await doctor();
        const after = await expectPointsExact(chain);
        expect(after[0] === full).toBe(ROLLS_BACK.includes(phase));
        if (ROLLS_BACK.includes(phase)) {
          const again = await sendenseRun([
            'prune',
            writeRetentionPlan(chain, { keepLast: left.length - 1 }),
            '--db',
            ws.db,
          ]);
          expect(again.exitCode, again.stderr).toBe(0);
          expect((await expectPointsExact(chain))[0]).toBe(left[1]);
        }
      },
    );
  }

  it('after all that: verify passes and the next incremental is exact', { timeout: 300_000 }, async () => {
    await expectVerifyPasses(chain);
    writeDisk(chain.disks[1]!.path, ['write -P 0x99 3M 1M', 'write -z 5M 64k']);
    const next = await sendenseRun([writeRetentionPlan(chain, { keepDaily: 100 }), '--db', ws.db]);
    expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
    const latest = (await backupsOf(chain)).at(-1)!;
    expect(latest.type).toBe('incremental');
    for (const disk of latest.disks)
      expect(differenceBetween(disk.file, chain.disks.find((d) => d.key === disk.diskKey)!.path)).toBe('');
  });
});
