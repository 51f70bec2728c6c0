// `sendense-run schedule` as a user runs it (a child process, needs `npm run build`): real tiny
// backups on a seconds-level cron, no two runs of one plan at once, SIGTERM mid-run, SIGHUP with
// a broken plan, catchUp: latest.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { qemuImg, qemuIo } from '../support/images.js';
import { descendantPids, leasedPorts, qemuNbdAmong, recordedProcesses } from '../support/process-tree.js';
import { waitForProcessGone } from '../support/processes.js';
import { killScheduler, startScheduler, type JsonLine, type SchedulerProcess } from './scheduler-process.js';
import { makeSandbox, planDoc, writePlanFile, type Sandbox } from './test-plans.js';

const isRunEnd = (plan: string, status?: string) => (line: JsonLine) =>
  line.type === 'run-end' && line.plan === plan && (status === undefined || line.status === status);
const isNote = (event: string, plan?: string) => (line: JsonLine) =>
  line.type === 'scheduler' && line.event === event && (plan === undefined || line.plan === plan);

async function historyOf(db: string, plan: string) {
  const store = await openStore(db);
  try {
    return await store.listRuns({ plan });
  } finally {
    await store.close();
  }
}

describe('sendense-run schedule', () => {
  let box: Sandbox | undefined;
  let scheduler: SchedulerProcess | undefined;
  afterEach(async () => {
    await killScheduler(scheduler);
    scheduler = undefined;
    box?.remove();
    box = undefined;
  });

  it('fires real backups on a 6-field cron; SIGTERM mid-run cleans up and exits 0', async () => {
    box = makeSandbox('schedule');
    const plans = path.join(box.dir, 'plans');
    mkdirSync(plans);
    writePlanFile(path.join(plans, 'every2s.yaml'), planDoc(box, 'every2s', { schedule: '*/2 * * * * *' }));
    writePlanFile(path.join(plans, 'manual.yaml'), planDoc(box, 'manual-only'));
    writePlanFile(path.join(plans, 'broken.yaml'), planDoc(box, 'broken', { kind: 'nightly' }));

    scheduler = startScheduler([plans, '--db', box.db]);
    const scheduled = await scheduler.waitFor(isNote('scheduled', 'every2s'));
    expect(Date.parse(String(scheduled.next))).toBeGreaterThan(Date.now() - 2000);
    await scheduler.waitFor(isNote('ignored', 'manual-only'));
    const invalid = await scheduler.waitFor(isNote('invalid'));
    expect(invalid.message).toMatch(/broken\.yaml:2:7: .*kind.*\(plan skipped\)$/);

    await scheduler.waitFor(isRunEnd('every2s', 'succeeded'));
    const second = scheduler.lines.findIndex(isRunEnd('every2s', 'succeeded')) + 1;
    qemuIo(box.source, 'write -P 0x42 2M 256k');
    await scheduler.waitFor(isRunEnd('every2s', 'succeeded'), 20_000, second);
    // The next run: stop the scheduler once its qemu-nbd is serving.
    const from = scheduler.lines.length;
    await scheduler.waitFor((line) => line.type === 'step-done' && line.step === 'start-qemu-nbd', 20_000, from);
    const qemuNbd = qemuNbdAmong(descendantPids(scheduler.child.pid!));
    expect(qemuNbd.length).toBe(1);
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);

    for (const pid of qemuNbd) expect(await waitForProcessGone(pid)).toBe(true);
    expect(recordedProcesses(box.db)).toEqual([]);
    expect(leasedPorts(box.db)).toEqual([]);
    const interrupted = scheduler.lines.find((line, i) => i >= from && isRunEnd('every2s')(line))!;
    expect(interrupted.status).toBe('interrupted');
    expect(interrupted.error).toMatch(/^step [\w-]+: interrupted by SIGTERM$/);
    expect(scheduler.lines.at(-1)).toMatchObject({ type: 'scheduler', event: 'stopped' });

    const history = await historyOf(box.db, 'every2s');
    expect(history.length).toBeGreaterThanOrEqual(3);
    expect(history.every((run) => run.trigger === 'schedule')).toBe(true);
    expect(history[0]).toMatchObject({ id: interrupted.runId, status: 'interrupted' });
    expect(history.filter((run) => run.status === 'succeeded').length).toBeGreaterThanOrEqual(2);
    // The cancelled backup left no file behind.
    const store = await openStore(box.db);
    try {
      const cancelled = await store.getBackup(history[0].backupId!);
      expect(cancelled?.status).toBe('failed');
      expect(existsSync(cancelled!.disks[0].file)).toBe(false);
    } finally {
      await store.close();
    }
    expect(await historyOf(box.db, 'manual-only')).toEqual([]);
  });

  it('a clock set back does not run a scheduled time twice; the runs go on once the clock passes the last one', async () => {
    box = makeSandbox('schedule-clock');
    const plans = path.join(box.dir, 'plans');
    mkdirSync(plans);
    writePlanFile(path.join(plans, 'every2s.yaml'), planDoc(box, 'every2s', { schedule: '*/2 * * * * *' }));
    // The scheduler's clock follows this file (test/support/skewed-clock.mjs): NTP stepping it.
    const skew = path.join(box.dir, 'clock-skew');
    writeFileSync(skew, '0');
    scheduler = startScheduler([plans, '--db', box.db], {
      NODE_OPTIONS: `--import=${path.resolve('test/support/skewed-clock.mjs')}`,
      SENDENSE_TEST_CLOCK_SKEW_FILE: skew,
    });
    await scheduler.waitFor(isRunEnd('every2s', 'succeeded'));
    const back = scheduler.lines.length;
    writeFileSync(skew, '-9000');
    const note = await scheduler.waitFor(isNote('clock-set-back', 'every2s'), 30_000, back);
    expect(note.message).toMatch(/^the clock was set back: the run due at \S+ is not run again/);
    // Once the clock is past the last time that ran, the plan runs again.
    await scheduler.waitFor(isRunEnd('every2s', 'succeeded'), 60_000, scheduler.lines.indexOf(note));
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);

    // Every run, in the order recorded, started later by the scheduler's clock than the one
    // before: none ran for a time that had already run.
    const runs = (await historyOf(box.db, 'every2s')).filter((run) => run.status !== 'skipped').reverse();
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < runs.length; i++)
      expect(Date.parse(runs[i]!.startedAt), `run ${runs[i]!.id} after ${runs[i - 1]!.id}`).toBeGreaterThan(
        Date.parse(runs[i - 1]!.startedAt),
      );
  });

  it('never runs one plan twice at once: a due run is skipped and recorded; other plans still run', async () => {
    box = makeSandbox('overlap');
    const other = path.join(box.dir, 'other.qcow2');
    qemuImg('create', '-q', '-f', 'qcow2', other, '4M');
    // The first run's hook lasts 3 s, every later one an hour: a stop that did not cancel the hook
    // would not end this test.
    const once = path.join(box.dir, 'slow-ran-once');
    const slowHook = `if [ -e ${once} ]; then sleep 3600; else touch ${once}; sleep 3; fi`;
    const slow = writePlanFile(
      path.join(box.dir, 'slow.yaml'),
      planDoc(box, 'slow', { schedule: '* * * * * *', hooks: { before: [{ run: slowHook }] } }),
    );
    const fastDoc = planDoc(box, 'fast', { schedule: '* * * * * *' });
    (fastDoc.vm as { source: { disks: { path: string }[] } }).source.disks[0].path = other;
    const fast = writePlanFile(path.join(box.dir, 'fast.yaml'), fastDoc);

    scheduler = startScheduler([slow, fast, '--db', box.db]);
    await scheduler.waitFor(isNote('skipped', 'slow'));
    await scheduler.waitFor(isRunEnd('slow', 'succeeded'));
    // Stop while the second slow run sits in its before hook: the hook is cancelled at once.
    const from = scheduler.lines.findIndex(isRunEnd('slow', 'succeeded'));
    // Its hook has started (a run checks its repository first, which may take a moment).
    await scheduler.waitFor(
      (line) => line.type === 'info' && line.step === 'hooks' && line.plan === 'slow',
      20_000,
      from,
    );
    scheduler.child.kill('SIGTERM');
    // Cancelled (its hour-long hook with it) and cleaned up: the scheduler says so and exits 0.
    expect(await scheduler.exited).toBe(0);
    expect(scheduler.lines.find(isNote('stopped'))).toBeDefined();
    expect(
      scheduler.lines.some((line) => line.plan === 'slow' && line.type === 'run-end' && line.status === 'interrupted'),
    ).toBe(true);

    // Runs of slow never overlapped; fast ran while slow was running.
    let open = 0;
    let fastDuringSlow = false;
    for (const line of scheduler.lines) {
      if (line.plan === 'slow' && line.type === 'run-start') open++;
      if (line.plan === 'slow' && line.type === 'run-end') open--;
      expect(open).toBeLessThanOrEqual(1);
      if (open === 1 && line.plan === 'fast' && line.type === 'run-end' && line.status === 'succeeded')
        fastDuringSlow = true;
    }
    expect(fastDuringSlow).toBe(true);

    const history = await historyOf(box.db, 'slow');
    const skipped = history.filter((run) => run.status === 'skipped');
    expect(skipped.length).toBeGreaterThanOrEqual(2);
    for (const run of skipped) {
      expect(run.trigger).toBe('schedule');
      expect(run.error).toMatch(/^a run of this plan is still going \(run run-[\w-]+, started \d{4}-\d\d-\d\dT/);
    }
    expect(history.filter((run) => run.status === 'succeeded').length).toBe(1);
    expect(history[0].status === 'interrupted' || history[0].status === 'skipped').toBe(true);
    expect(history.find((run) => run.status === 'interrupted')?.error).toBe('step hooks: interrupted by SIGTERM');
    expect(leasedPorts(box.db)).toEqual([]);
  });

  it('SIGHUP re-reads the plans: a broken plan keeps its old version, a changed one is rescheduled', async () => {
    box = makeSandbox('sighup');
    const steady = writePlanFile(
      path.join(box.dir, 'steady.yaml'),
      planDoc(box, 'steady', { schedule: '0 3 * * *', timezone: 'UTC' }),
    );
    const changing = writePlanFile(
      path.join(box.dir, 'changing.yaml'),
      planDoc(box, 'changing', { schedule: '0 4 * * *', timezone: 'UTC' }),
    );
    scheduler = startScheduler([box.dir, '--db', box.db]);
    await scheduler.waitFor(isNote('scheduled', 'changing'));
    await scheduler.waitFor(isNote('scheduled', 'steady'));

    writeFileSync(steady, 'version: 1\nkind: backup\nname: steady\nvm: { name: x }\nsurprise: true\n');
    writePlanFile(changing, planDoc(box, 'changing', { schedule: '30 5 * * *', timezone: 'UTC' }));
    const from = scheduler.lines.length;
    scheduler.child.kill('SIGHUP');
    const invalid = await scheduler.waitFor(isNote('invalid'), 10_000, from);
    expect(invalid.message).toMatch(/steady\.yaml:\d+:\d+: /);
    expect((await scheduler.waitFor(isNote('kept', 'steady'), 10_000, from)).message).toContain(
      'keeping the version of plan steady loaded before',
    );
    const rescheduled = await scheduler.waitFor(isNote('scheduled', 'changing'), 10_000, from);
    expect(rescheduled.schedule).toBe('30 5 * * *');
    expect(new Date(String(rescheduled.next)).toISOString()).toMatch(/T05:30:00\.000Z$/);
    const kept = await scheduler.waitFor(isNote('scheduled', 'steady'), 10_000, from);
    expect(kept.schedule).toBe('0 3 * * *');

    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);
  });

  it('catchUp: latest runs a missed run once at start-up, and not again after a restart', async () => {
    box = makeSandbox('catchup');
    const plan = writePlanFile(
      path.join(box.dir, 'yearly.yaml'),
      planDoc(box, 'yearly', { schedule: '0 0 1 1 *', catchUp: 'latest' }),
    );
    scheduler = startScheduler([plan, '--db', box.db]);
    await scheduler.waitFor(isNote('catch-up', 'yearly'));
    await scheduler.waitFor(isRunEnd('yearly', 'succeeded'));
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);

    scheduler = startScheduler([plan, '--db', box.db]);
    await scheduler.waitFor(isNote('scheduled', 'yearly'));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(scheduler.lines.filter(isNote('catch-up'))).toEqual([]);
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);
    const history = await historyOf(box.db, 'yearly');
    expect(history.map((run) => [run.trigger, run.status])).toEqual([['schedule', 'succeeded']]);
  });
});
