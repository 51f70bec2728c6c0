// `sendense-run schedule FILE|DIR...`: stays in the foreground and runs each plan that has a
// `schedule` at its times. SIGHUP re-reads the plans (an invalid one keeps its old version);
// SIGTERM/SIGINT stop the timers, cancel running runs, wait for their cleanup and exit 0 — a
// clean stop is a success for systemd (ExecStop/`systemctl stop` sends SIGTERM).

import { interruptedError } from '../engine/run-plan.js';
import { SendenseError, usageError } from '../errors.js';
import { loadHubConfig } from '../hub/hub-config.js';
import { formatDiagnostic } from '../plan/plan-diagnostic.js';
import { loadSchedulePlans, type SchedulePlans } from '../schedule/load-schedule-plans.js';
import { PlanScheduler } from '../schedule/plan-scheduler.js';
import { SharedFires } from '../schedule/shared-fires.js';
import { defaultSelf } from '../store/hub-liveness.js';
import { startBounds, startPhase } from '../hub/hub-start.js';
import { createScheduleOutput, SCHEDULE_JSON, type ScheduleOutput } from '../schedule/schedule-output.js';
import { openStore } from '../store/index.js';
import { defineCommand, type CommandSpec } from './command.js';
import type { CliContext } from './context.js';

export const scheduleCommand: CommandSpec = defineCommand({
  name: 'schedule',
  usage: 'sendense-run schedule FILE|DIR...',
  does: 'Stay in the foreground and run each plan that has a schedule at its times; never two runs of one\nplan at once. SIGHUP re-reads the plans; SIGINT/SIGTERM stop cleanly.',
  options: [],
  exitCodes: [
    { code: 0, when: 'stopped cleanly by SIGINT or SIGTERM (running runs cancelled and cleaned up)' },
    { code: 1, when: 'the scheduler itself failed, e.g. the state database cannot be opened' },
    { code: 2, when: 'nothing to schedule (no valid plan with a schedule) or a usage error' },
  ],
  json: SCHEDULE_JSON,
  run: (cli, given) => runSchedule(cli, given.operands),
});

async function runSchedule(cli: CliContext, args: readonly string[]): Promise<number> {
  if (args.length === 0) throw usageError('schedule needs at least one plan FILE or DIR');
  const hub = loadHubConfig(cli.hubConfig);
  const bounds = startBounds();
  const output = createScheduleOutput(cli);
  const loaded = await loadSchedulePlans(args);
  reportProblems(output, loaded);
  if (loaded.scheduled.length === 0) {
    const why =
      loaded.ignored.length > 0 ? `none of the ${loaded.ignored.length} valid plan(s) has a schedule` : 'no valid plan';
    throw usageError(`schedule: nothing to schedule (${why})`);
  }
  const store = await startPhase(
    output,
    `the state database ${cli.dbPath} (its connection and migrations)`,
    openStore(cli.dbPath, { hub: hub.name }),
    (late) => late.close(),
    bounds,
  );
  // Several hubs on one PostgreSQL share one schedule through its job queue (docs/operations.md, "Many hubs").
  let shared: SharedFires | undefined;
  try {
    if (store.sharedByHubs) {
      const onQueueError = (error: Error) =>
        output.note({ event: 'queue-error', level: 'error', message: `job queue: ${error.message}` });
      shared = await startPhase(
        output,
        "the shared schedule's job queue",
        SharedFires.start(cli.dbPath, defaultSelf().deadAfterMs, onQueueError),
        (late) => late.stop(),
        bounds,
      );
    }
  } catch (error) {
    await store.close();
    throw new SendenseError(`cannot start the shared schedule in ${cli.dbPath}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const scheduler = new PlanScheduler({
    store,
    output,
    hub,
    ...(shared ? { shared, reapEveryMs: heartbeatMs() } : {}),
  });
  try {
    scheduler.apply(loaded.scheduled);
    // Signal handlers first: a SIGHUP right after the start-up lines must not kill the process.
    const stopped = waitForStop(output, scheduler, args);
    reportSchedule(output, scheduler, loaded);
    await scheduler.catchUp();
    await stopped;
    output.note({ event: 'stopped', level: 'info', message: 'stopped' });
    return 0;
  } finally {
    await shared?.stop();
    await store.close();
  }
}

// Resolves once a stop signal has been handled (runs cancelled and cleaned up).
function waitForStop(output: ScheduleOutput, scheduler: PlanScheduler, paths: readonly string[]): Promise<void> {
  // croner's timers keep the process alive, but not while every plan is gone after a reload.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let reloading = Promise.resolve();
  const onHangup = () => {
    reloading = reloading
      .then(() => reload(output, scheduler, paths))
      .catch((error: unknown) => {
        output.note({
          event: 'reload-failed',
          level: 'error',
          message: `reload failed, plans unchanged: ${(error as Error).message}`,
        });
      });
  };
  return new Promise((resolve) => {
    let stopping = false;
    const onStop = (signal: NodeJS.Signals) => {
      if (stopping) {
        output.note({
          event: 'stopping',
          level: 'warning',
          message: `${signal} again: still cleaning up, please wait`,
        });
        return;
      }
      stopping = true;
      output.note({
        event: 'stopping',
        level: 'info',
        signal,
        message: `${signal} received: no new runs; cancelling running ones`,
      });
      void reloading
        .then(() => scheduler.stop(interruptedError(signal)))
        .then((cancelled) => {
          if (cancelled > 0)
            output.note({
              event: 'cancelled',
              level: 'info',
              message: `${cancelled} running run(s) cancelled and cleaned up`,
            });
          process.off('SIGHUP', onHangup);
          process.off('SIGINT', onStop);
          process.off('SIGTERM', onStop);
          clearInterval(keepAlive);
          resolve();
        });
    };
    process.on('SIGHUP', onHangup);
    process.on('SIGINT', onStop);
    process.on('SIGTERM', onStop);
  });
}

// SIGHUP: re-read every plan; an invalid file keeps the version of its plan already scheduled.
async function reload(output: ScheduleOutput, scheduler: PlanScheduler, paths: readonly string[]): Promise<void> {
  output.note({ event: 'reloading', level: 'info', message: 'SIGHUP: re-reading plans' });
  const loaded = await loadSchedulePlans(paths);
  reportProblems(output, loaded);
  const keep = new Set<string>();
  for (const invalid of loaded.invalid) {
    const old = scheduler.planNames.find(
      (name) => scheduler.scheduledPlan(name)?.plan.origin.file === invalid.file || name === invalid.name,
    );
    if (old === undefined || loaded.scheduled.some((scheduled) => scheduled.plan.name === old)) continue;
    keep.add(old);
    output.note({
      event: 'kept',
      level: 'warning',
      plan: old,
      file: invalid.file,
      message: `${invalid.file} is invalid: keeping the version of plan ${old} loaded before`,
    });
  }
  const { removed } = scheduler.apply(loaded.scheduled, keep);
  for (const name of removed)
    output.note({
      event: 'removed',
      level: 'info',
      plan: name,
      message: 'no longer scheduled (removed, or its schedule was)',
    });
  reportSchedule(output, scheduler, loaded);
}

function reportProblems(output: ScheduleOutput, loaded: SchedulePlans): void {
  for (const diagnostic of [...loaded.pathErrors, ...loaded.invalid.flatMap((invalid) => invalid.errors)]) {
    output.note({
      event: 'invalid',
      level: 'error',
      file: diagnostic.file,
      message: `${formatDiagnostic(diagnostic)} (plan skipped)`,
    });
  }
}

function reportSchedule(output: ScheduleOutput, scheduler: PlanScheduler, loaded: SchedulePlans): void {
  for (const plan of loaded.ignored) {
    output.note({
      event: 'ignored',
      level: 'info',
      plan: plan.name,
      file: plan.origin.file,
      message: `${plan.origin.file}: no schedule, ignored`,
    });
  }
  for (const name of scheduler.planNames) {
    const plan = scheduler.scheduledPlan(name)!.plan;
    const next = scheduler.nextRun(name);
    const zone = plan.timezone ? ` ${plan.timezone}` : '';
    output.note({
      event: 'scheduled',
      level: 'info',
      plan: name,
      file: plan.origin.file,
      schedule: plan.schedule,
      next: next?.toISOString() ?? null,
      message: `"${plan.schedule}"${zone}: next run ${next?.toISOString() ?? 'never'}`,
    });
  }
}

// Dead hubs are looked for as often as this process beats.
function heartbeatMs(): number {
  return defaultSelf().beatMs;
}
