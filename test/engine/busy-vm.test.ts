// A backup run whose VM another plan's run holds (docs/how-it-works.md#busy-vms): here a prune of
// the plan that made the points, stopped mid-merge at the test seam, holds the VM. busy: skip
// records a skipped run naming the holder; busy: fail and a wait past its bound fail naming it;
// busy: wait (the default's shape) waits holding no port or process, then backs up exactly once
// the VM is free, and history says how long it waited.

import { afterEach, describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses, tableRows } from '../support/process-tree.js';
import { identify, killIfAlive } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, startSendenseRun, writePlan, type TestPlan } from '../support/sendense-cli.js';
import { differenceBetween, portRangeForTestFile } from '../support/vm-disks.js';
import { backUpPoints, setTakenAt, writeRetentionPlan } from '../retention/point-chain.js';
import { waitUntilStopped } from '../retention/stopped-process.js';
import { stopAtEnv } from '../../src/crash-points.js';

const ws = useRunWorkspace('busy-vm-');
const ports = portRangeForTestFile();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

interface HistoryLine {
  readonly id: string;
  readonly plan: string;
  readonly status: string;
  readonly error: string | null;
  readonly vmWaitSeconds: number | null;
  readonly backupId: string | null;
}

async function history(): Promise<HistoryLine[]> {
  const result = await sendenseRun(['history', '--json', '--db', ws.db]);
  return result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as HistoryLine);
}

describe('a run whose VM another plan holds', () => {
  it('skips, fails, or waits holding nothing, as the plan says busy', { timeout: 300_000 }, async () => {
    const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 3, 'vmb');
    setTakenAt(
      chain,
      Object.fromEntries(chain.ids.map((id, i) => [id, new Date(Date.UTC(2026, 0, 1 + i, 2)).toISOString()])),
    );
    const prune = startSendenseRun(['prune', writeRetentionPlan(chain, { keepLast: 2 }), '--db', ws.db], {
      ...stopAtEnv('merge.copied'),
    });
    const pruneProcess = identify(prune.pid);
    cleanups.push(() => killIfAlive(pruneProcess));
    await waitUntilStopped(prune.pid);
    const holder = (tableRows(ws.db, 'runs') as { id: string; kind: string; status: string }[]).find(
      (run) => run.kind === 'prune' && run.status === 'running',
    )!;
    const held = `run ${holder.id} of plan vmb-build`;
    const hourly = (busy: TestPlan['busy']) =>
      writePlan(ws.dir, { name: 'vmb-hourly', vm: 'vmb', disks: chain.disks, repository: ws.repository, ports, busy });

    const skipped = await sendenseRun([hourly('skip'), '--db', ws.db]);
    expect(skipped.exitCode, `${skipped.stdout}\n${skipped.stderr}`).toBe(0);
    expect(skipped.stderr).toContain(`skipped in`);
    expect((await history())[0]).toMatchObject({
      plan: 'vmb-hourly',
      status: 'skipped',
      error: `VM busy (${held})`,
      backupId: null,
    });
    const text = (await sendenseRun(['history', '--plan', 'vmb-hourly', '--db', ws.db])).stdout;
    expect(text).toContain(`    skipped: VM busy (${held})`);

    const failed = await sendenseRun([hourly('fail'), '--db', ws.db]);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toMatch(new RegExp(`VM vmb is being pruned by ${held} \\(pid ${prune.pid} on `));
    // A refusal, not a failure of the plan, and not blamed on a step it never reached.
    expect(failed.stderr).not.toMatch(/step open-tunnel/);
    expect((await history())[0]).toMatchObject({ plan: 'vmb-hourly', status: 'refused', backupId: null });
    const status = await sendenseRun(['status', hourly('fail'), '--db', ws.db]);
    expect(status.exitCode, `${status.stdout}\n${status.stderr}`).toBe(0);

    const bounded = await sendenseRun([hourly({ wait: '2s' }), '--db', ws.db]);
    expect(bounded.exitCode).toBe(1);
    expect(bounded.stderr).toMatch(
      new RegExp(`waited 0:0[23] for VM vmb \\(busy.wait\\): VM vmb is being pruned by ${held}`),
    );
    expect((await history())[0]).toMatchObject({ plan: 'vmb-hourly', status: 'refused', backupId: null });
    expect((await history())[0]!.vmWaitSeconds).toBeGreaterThanOrEqual(2);
    expect((await listBackups(ws.db, 'vmb')).map((backup) => backup.plan)).toEqual([
      'vmb-build',
      'vmb-build',
      'vmb-build',
    ]);

    // Waiting: recorded as running, holding no port and no process, until the prune lets go.
    const waiting = startSendenseRun([hourly({ wait: '5m' }), '--db', ws.db]);
    const waitingProcess = identify(waiting.pid);
    cleanups.push(() => killIfAlive(waitingProcess));
    const said = await waiting.waitForEvent((event) => event.type === 'info' && /is busy/.test(event.message ?? ''));
    expect(said.message).toBe(`VM vmb is busy: ${held} holds it; waiting up to 5:00 (busy.wait), holding nothing`);
    const waitingRun = (await history()).find((run) => run.plan === 'vmb-hourly' && run.status === 'running')!;
    expect(waitingRun).toBeDefined();
    expect(leasedPorts(ws.db).filter((lease) => lease.runId === waitingRun.id)).toEqual([]);
    expect(recordedProcesses(ws.db).filter((process) => process.runId === waitingRun.id)).toEqual([]);

    process.kill(prune.pid, 'SIGCONT');
    const pruned = await prune.exited;
    expect(pruned.exitCode, `${pruned.stdout}\n${pruned.stderr}`).toBe(0);
    const done = await waiting.exited;
    expect(done.exitCode, `${done.stdout}\n${done.stderr}`).toBe(0);
    const [last] = await history();
    expect(last).toMatchObject({ id: waitingRun.id, plan: 'vmb-hourly', status: 'succeeded' });
    expect(last!.vmWaitSeconds).toBeGreaterThan(0);
    expect((await sendenseRun(['history', '--limit', '1', '--db', ws.db])).stdout).toMatch(
      / {4}waited \d+:\d\d for its VM \(another plan's run held it; busy\.wait\)/,
    );
    const made = (await listBackups(ws.db, 'vmb')).find((backup) => backup.id === last!.backupId)!;
    expect(made).toMatchObject({ plan: 'vmb-hourly', type: 'full', status: 'complete' });
    for (const disk of made.disks)
      expect(differenceBetween(disk.file, chain.disks.find((d) => d.key === disk.diskKey)!.path)).toBe('');
    // The prune went on too: its plan's oldest point merged away.
    expect(
      (await listBackups(ws.db, 'vmb')).filter((backup) => backup.plan === 'vmb-build').map((backup) => backup.id),
    ).toEqual(chain.ids.slice(1));
  });
});
