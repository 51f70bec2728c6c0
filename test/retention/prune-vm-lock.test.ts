// A prune refused by the VM's lock says what holds it: here another prune (stopped mid-merge by
// the test seam), named as a prune with its run, plan and pid — not as a backup. Let go, the first
// prune finishes and every point left is exact.

import { afterEach, describe, expect, it } from 'vitest';
import { tableRows } from '../support/process-tree.js';
import { identify, killIfAlive } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { backUpPoints, expectPointsExact, setTakenAt, writeRetentionPlan } from './point-chain.js';
import { waitUntilStopped } from './stopped-process.js';
import { stopAtEnv } from '../../src/crash-points.js';

const ws = useRunWorkspace('prune-vm-lock-');
const ports = portRangeForTestFile();
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

describe('a prune refused by the VM lock', () => {
  it('names the prune that holds it', { timeout: 300_000 }, async () => {
    const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 3, 'vmb');
    setTakenAt(
      chain,
      Object.fromEntries(chain.ids.map((id, i) => [id, new Date(Date.UTC(2026, 0, 1 + i, 2)).toISOString()])),
    );
    const plan = writeRetentionPlan(chain, { keepLast: 2 });
    const first = startSendenseRun(['prune', plan, '--db', ws.db], stopAtEnv('merge.copied'));
    const firstProcess = identify(first.pid);
    cleanups.push(() => killIfAlive(firstProcess));
    await waitUntilStopped(first.pid);
    const holder = (tableRows(ws.db, 'runs') as { id: string; kind: string; status: string }[]).find(
      (run) => run.kind === 'prune' && run.status === 'running',
    )!;

    const refused = await sendenseRun(['prune', plan, '--db', ws.db]);
    expect(refused.exitCode, `${refused.stdout}\n${refused.stderr}`).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(
      new RegExp(`VM vmb is being pruned by run ${holder.id} of plan vmb-build \\(pid ${first.pid} on `),
    );
    expect(refused.stderr).not.toContain('backed up');

    process.kill(first.pid, 'SIGCONT');
    const end = await first.exited;
    expect(end.exitCode, `${end.stdout}\n${end.stderr}`).toBe(0);
    expect(await expectPointsExact(chain)).toEqual(chain.ids.slice(1));
  });
});
