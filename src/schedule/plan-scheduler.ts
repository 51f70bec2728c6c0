// Runs each scheduled plan at its cron times (croner), never two runs of one plan at once: a run
// due while the previous one is still going is skipped and the skip recorded in history. Runs of
// different plans may overlap (their port leases keep them apart).

import { Cron } from 'croner';
import { runPlan } from '../engine/run-plan.js';
import type { RunReporter } from '../engine/run-events.js';
import { isSendenseError, type SendenseError } from '../errors.js';
import type { Plan } from '../plan/types.js';
import type { Store } from '../store/index.js';
import type { SchedulePlan } from './load-schedule-plans.js';
import { missedRun } from './missed-run.js';
import { planAtFireTime } from './plan-at-fire-time.js';
import type { ScheduleOutput } from './schedule-output.js';
import type { HubConfig } from '../hub/hub-config.js';

export interface PlanSchedulerOptions {
  readonly store: Store;
  readonly output: ScheduleOutput;
  /** The hub's limits: every fire waits for disk slots in fire order (SPEC section 12). */
  readonly hub?: HubConfig;
  /** Where `${VAR}` are resolved from at each run. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

interface Entry {
  readonly scheduled: SchedulePlan;
  readonly cron: Cron;
}

interface RunningRun {
  readonly startedAt: Date;
  readonly controller: AbortController;
  runId?: string;
  done?: Promise<void>;
}

export class PlanScheduler {
  readonly #options: PlanSchedulerOptions;
  readonly #entries = new Map<string, Entry>();
  /** By plan name; outlives its entry when a plan is removed while running. */
  readonly #running = new Map<string, RunningRun>();
  #stopping = false;

  constructor(options: PlanSchedulerOptions) {
    this.#options = options;
  }

  get planNames(): readonly string[] {
    return [...this.#entries.keys()];
  }

  scheduledPlan(name: string): SchedulePlan | undefined {
    return this.#entries.get(name)?.scheduled;
  }

  nextRun(name: string): Date | null {
    return this.#entries.get(name)?.cron.nextRun() ?? null;
  }

  // Schedules exactly these plans (plus `keep`, left as they are); running runs are never touched.
  apply(plans: readonly SchedulePlan[], keep: ReadonlySet<string> = new Set()): { added: string[]; removed: string[] } {
    const added: string[] = [];
    const removed: string[] = [];
    const wanted = new Set(plans.map((scheduled) => scheduled.plan.name));
    for (const [name, entry] of this.#entries) {
      if (wanted.has(name) || keep.has(name)) continue;
      entry.cron.stop();
      this.#entries.delete(name);
      removed.push(name);
    }
    for (const scheduled of plans) {
      const name = scheduled.plan.name;
      const old = this.#entries.get(name);
      old?.cron.stop();
      if (old === undefined) added.push(name);
      const cron = new Cron(
        scheduled.plan.schedule,
        { timezone: scheduled.plan.timezone, catch: (error) => this.#bug(name, error) },
        () => this.fire(name, 'schedule'),
      );
      this.#entries.set(name, { scheduled, cron });
    }
    return { added, removed };
  }

  // catchUp: latest — runs once now each plan whose last scheduled time passed without a run.
  async catchUp(): Promise<void> {
    for (const [name, { scheduled }] of this.#entries) {
      if (scheduled.plan.catchUp !== 'latest') continue;
      const [last] = await this.#options.store.listRuns({ plan: name, limit: 1 });
      const missed = missedRun(scheduled.plan, last);
      if (missed === undefined) continue;
      this.#options.output.note({
        event: 'catch-up',
        level: 'info',
        plan: name,
        missed: missed.toISOString(),
        message: `missed the run due at ${missed.toISOString()} (catchUp: latest): running it now`,
      });
      this.fire(name, 'catch-up');
    }
  }

  // Starts a run of the plan now, unless one is still going (then the skip is recorded).
  fire(name: string, why: 'schedule' | 'catch-up'): void {
    const entry = this.#entries.get(name);
    if (entry === undefined || this.#stopping) return;
    const current = this.#running.get(name);
    if (current !== undefined) {
      void this.#recordSkip(entry.scheduled.plan, current, why);
      return;
    }
    const running: RunningRun = { startedAt: new Date(), controller: new AbortController() };
    this.#running.set(name, running);
    running.done = this.#run(entry.scheduled, running)
      .catch((error: unknown) => this.#bug(name, error))
      .finally(() => this.#running.delete(name));
  }

  // Stops the timers, cancels running runs with `reason` and waits for their cleanup.
  async stop(reason: SendenseError): Promise<number> {
    this.#stopping = true;
    for (const entry of this.#entries.values()) entry.cron.stop();
    const runs = [...this.#running.values()];
    for (const run of runs) run.controller.abort(reason);
    await Promise.allSettled(runs.map((run) => run.done));
    return runs.length;
  }

  async #run(scheduled: SchedulePlan, running: RunningRun): Promise<void> {
    const { store, output } = this.#options;
    const name = scheduled.plan.name;
    let plan: Plan;
    try {
      plan = planAtFireTime(scheduled, this.#options.env);
    } catch (error) {
      // The run cannot start (an environment variable is missing): history still shows it.
      const message = isSendenseError(error) ? error.describe() : String(error);
      const run = await store.createRun({ plan: name, kind: scheduled.plan.kind, trigger: 'schedule', planFile: scheduled.plan.origin.file });
      await store.finishRun(run.id, 'failed', message);
      output.note({ event: 'run-not-started', level: 'error', plan: name, runId: run.id, message: `run ${run.id} failed to start: ${message}` });
      return;
    }
    const reporter = watchRunId(output.reporterFor(name), running);
    const result = await runPlan(plan, { store, reporter, trigger: 'schedule', signal: running.controller.signal, hub: this.#options.hub, queuedAt: running.startedAt });
    await reporter.close();
    if (this.#stopping || !this.#entries.has(name)) return;
    const next = this.nextRun(name);
    output.note({
      event: 'run-done',
      level: 'info',
      plan: name,
      runId: result.runId,
      status: result.status,
      next: next?.toISOString() ?? null,
      message: `run ${result.runId} ${result.status}; next run ${next?.toISOString() ?? 'never'}`,
    });
  }

  async #recordSkip(plan: Plan, current: RunningRun, why: string): Promise<void> {
    const reason = `a run of this plan is still going (run ${current.runId ?? 'starting'}, started ${current.startedAt.toISOString()})`;
    try {
      const skipped = await this.#options.store.recordSkippedRun({
        plan: plan.name,
        kind: plan.kind,
        trigger: 'schedule',
        planFile: plan.origin.file,
        reason,
      });
      this.#options.output.note({ event: 'skipped', level: 'warning', plan: plan.name, runId: skipped.id, message: `${why} run skipped: ${reason}` });
    } catch (error) {
      this.#bug(plan.name, error);
    }
  }

  // Something that should not happen; the scheduler keeps going for the other plans.
  #bug(name: string, error: unknown): void {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.#options.output.note({ event: 'internal-error', level: 'error', plan: name, message: `internal error (a bug, please report it): ${text}` });
  }
}

// Passes events through, noting the run id when the run starts (for skip messages).
function watchRunId(inner: RunReporter, running: RunningRun): RunReporter {
  return {
    emit(event) {
      if (event.type === 'run-start') running.runId = event.runId;
      inner.emit(event);
    },
    close: () => inner.close(),
  };
}
