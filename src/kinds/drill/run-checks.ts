// run-checks: the plan's checks in order, each timed and recorded as passed, failed or skipped
// (docs/drills.md#checks); after a failed check the ones that need the guest are skipped, the ones
// that read the point still run. The drill's record (its checks, recovery time, screenshot, the
// last console lines) is written whatever the outcome; a failed check then fails the run, its
// message naming the check and carrying the console's last lines (what notifications send).

import type { Step } from '../../engine/step.js';
import { SendenseError } from '../../errors.js';
import { nowIso } from '../../store/new-id.js';
import type { DrillCheck } from '../../plan/types.js';
import { drillSource } from '../../plan/drill-source.js';
import type { DrillCheckResult } from '../../store/index.js';
import type { DrillRun } from './drill-run.js';
import { consoleTail, consoleText, TAIL_LINES } from './guest-console.js';
import { commandCheck } from './command-check.js';
import { bootCheck, heartbeatCheck, screenshotCheck } from './guest-checks.js';
import { tcpCheck } from './tcp-check.js';
import { filesCheck, fsckCheck } from './point-checks.js';

const GUEST_CHECKS = new Set(['boot', 'heartbeat', 'screenshot', 'tcp', 'command']);

export const runChecks: Step<DrillRun> = {
  name: 'run-checks',
  title: (run) => `run the checks: ${run.plan.drill.checks.map((check) => check.type).join(', ')}`,
  skip: (run) => run.state.nothingNew,
  facts: (run) => ({
    backupId: run.state.backupId,
    checks: run.state.results.map((result) => ({ ...result })),
    bootSeconds: run.state.bootSeconds ?? null,
    heartbeatSeconds: run.state.heartbeatSeconds ?? null,
  }),
  async run(run) {
    const startedAt = new Date(run.state.createdAt ?? Date.now()).toISOString();
    let guestFailed: string | undefined;
    for (const check of run.plan.drill.checks) {
      if (guestFailed !== undefined && GUEST_CHECKS.has(check.type)) {
        record(run, { check: check.type, status: 'skipped', seconds: 0, detail: `the ${guestFailed} check failed` });
        continue;
      }
      const started = Date.now();
      try {
        const detail = await withTimeout(runCheck(run, check), check);
        record(run, { check: check.type, status: 'passed', seconds: secondsSince(started), detail });
      } catch (error) {
        if (run.signal.aborted) throw error;
        record(run, {
          check: check.type,
          status: 'failed',
          seconds: secondsSince(started),
          detail: (error as Error).message,
        });
        if (GUEST_CHECKS.has(check.type)) guestFailed ??= check.type;
      }
    }
    const tail = consoleTail(await consoleText(run));
    const failed = run.state.results.find((result) => result.status === 'failed');
    await run.store.recordDrill({
      runId: run.runId,
      plan: run.plan.name,
      vm: run.plan.vm.name,
      repository: drillSource(run.plan),
      backupId: run.state.backupId,
      startedAt,
      endedAt: nowIso(),
      outcome: failed === undefined ? 'passed' : 'failed',
      bootSeconds: run.state.bootSeconds ?? null,
      heartbeatSeconds: run.state.heartbeatSeconds ?? null,
      checks: run.state.results,
      screenshotPng: run.state.screenshot ?? null,
      consoleTail: tail === '' ? null : tail,
    });
    if (failed !== undefined)
      throw new SendenseError(
        `drill check ${failed.check} failed: ${failed.detail}${tail === '' ? '' : `\nthe last ${TAIL_LINES} lines of the guest's console:\n${tail}`}`,
        { step: 'run-checks' },
      );
    const recovery = run.state.heartbeatSeconds ?? run.state.bootSeconds;
    return `backup ${run.state.backupId} proven: ${run.state.results.map((result) => `${result.check} ${result.status}`).join(', ')}${recovery === undefined ? '' : `; recovery time ${recovery} s`}`;
  },
  would: (run) => `run ${run.plan.drill.checks.map((check) => check.type).join(', ')} and record each`,
};

function runCheck(run: DrillRun, check: DrillCheck): Promise<string> {
  switch (check.type) {
    case 'boot':
      return bootCheck(run, check);
    case 'heartbeat':
      return heartbeatCheck(run, check);
    case 'screenshot':
      return screenshotCheck(run);
    case 'tcp':
      return tcpCheck(run, check);
    case 'command':
      return commandCheck(run, check);
    case 'files':
      return filesCheck(run, check);
    case 'fsck':
      return fsckCheck(run, check);
  }
}

// The check's own waits end at its timeout; this bounds everything else it does (a hung reader).
async function withTimeout(work: Promise<string>, check: DrillCheck): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new SendenseError(`did not finish within ${check.timeout} s`)),
      (check.timeout + 15) * 1000,
    );
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

function record(run: DrillRun, result: DrillCheckResult): void {
  run.state.results.push(result);
  run.reporter.emit({
    type: 'info',
    step: 'run-checks',
    message: `${result.check}: ${result.status} (${result.seconds} s) ${result.detail.split('\n')[0]}`,
  });
}

function secondsSince(started: number): number {
  return Math.round((Date.now() - started) / 100) / 10;
}
