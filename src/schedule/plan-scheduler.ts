// Runs each scheduled plan at its cron times (croner), never two runs of one plan at once: a run
// due while the previous one is still going is skipped and the skip recorded in history. Runs of
// different plans may overlap (their port leases keep them apart). With a shared schedule
// (several hubs on one PostgreSQL, shared-fires.ts) each fire is sent to the queue instead, and
// this hub runs the fires it takes from the queues of its repositories (and the queue every hub
// works, for plans that keep no repository).

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
import { checkHubRepository } from '../hub/hub-scope.js';
import { fireKey, type FireJob, type SharedFires } from './shared-fires.js';

export interface PlanSchedulerOptions {
  readonly store: Store;
  readonly output: ScheduleOutput;
  /** The hub's limits: every fire waits for disk slots in fire order (docs/how-it-works.md#scale). */
  readonly hub?: HubConfig;
  /** Where `${VAR}` are resolved from at each run. Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** One schedule for many hubs (PostgreSQL): fires go through the queue. */
  readonly shared?: SharedFires;
  /** Shared schedule: how often dead hubs' runs are looked for (reapDeadRuns). Default 5 s. */
  readonly reapEveryMs?: number;
}

// A fire taken from the queue this long after its time is recorded as skipped, not run.
const LATE_AFTER_MS = 60_000;

interface Entry {
  readonly scheduled: SchedulePlan;
  readonly cron: Cron;
  /** Shared schedule: the last fire time sent to the queue. */
  lastSent?: Date;
  /** The scheduled time the last fire was for: a time at or before it is never run again. */
  lastDue?: Date;
}

// Shared schedule: fires a stalled hub missed are sent late, up to this many (other hubs usually sent them).
const MAX_RESENT = 60;

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
  #reaper: NodeJS.Timeout | undefined;

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
        (self: Cron) =>
          this.#options.shared ? this.#send(name, self.currentRun() ?? new Date()) : this.#fireDue(name),
      );
      this.#entries.set(name, { scheduled, cron, ...(old?.lastDue !== undefined ? { lastDue: old.lastDue } : {}) });
    }
    if (this.#options.shared) void this.#work();
    return { added, removed };
  }

  // Shared schedule: sends the fire (time to the second, the same on every hub) to its queue, and
  // any fire since the last one sent that this hub missed (its event loop stalled past a second):
  // sending one again is a no-op, so at least one live hub sending it is enough.
  #send(name: string, at: Date): void {
    const entry = this.#entries.get(name);
    if (entry === undefined || this.#stopping) return;
    const fire = new Date(Math.floor(at.getTime() / 1000) * 1000);
    const missed = entry.lastSent ? entry.cron.nextRuns(MAX_RESENT, entry.lastSent).filter((time) => time < fire) : [];
    entry.lastSent = fire;
    for (const time of [...missed, fire]) {
      this.#options
        .shared!.send(repositoryOf(entry.scheduled.plan), { plan: name, fire: time.toISOString() })
        .catch((error: unknown) =>
          this.#queueError(name, `could not send the fire due at ${time.toISOString()}`, error),
        );
    }
  }

  // Shared schedule: works the queues of the repositories this hub may use, and the queue of the
  // plans without one; looks for dead hubs.
  async #work(): Promise<void> {
    const { shared, hub } = this.#options;
    for (const { scheduled } of this.#entries.values()) {
      const repository = repositoryOf(scheduled.plan);
      if (hub && repository !== undefined && !mayUse(hub, repository)) continue;
      const queue = repository ?? 'the plans without a repository';
      await shared!
        .work(repository, (job) => this.#take(job))
        .catch((error: unknown) =>
          this.#queueError(scheduled.plan.name, `could not work the queue of ${queue}`, error),
        );
    }
    this.#reaper ??= setInterval(() => void this.#reap(), this.#options.reapEveryMs ?? 5000);
  }

  // A fire from the queue: claimed in the state (once, whichever hub takes it), then run here.
  async #take(job: FireJob): Promise<void> {
    const { store, output } = this.#options;
    const entry = this.#entries.get(job.plan);
    // Failing the job hands it to another hub (pg-boss retries it).
    if (entry === undefined) throw new Error(`plan ${job.plan} is not scheduled on hub ${store.hub}`);
    if (this.#stopping) throw new Error(`hub ${store.hub} is stopping`);
    const plan = entry.scheduled.plan;
    const late = !job.catchUp && Date.now() - Date.parse(job.fire) > LATE_AFTER_MS;
    const repository = repositoryOf(plan);
    const noHub = repository === undefined ? 'no hub' : `no hub holding repository ${repository}`;
    const claim = await store.claimFire({
      plan: plan.name,
      kind: plan.kind,
      trigger: 'schedule',
      planFile: plan.origin.file,
      fire: fireKey(job),
      ...(late ? { skip: `${noHub} took the fire due at ${job.fire} until ${new Date().toISOString()}` } : {}),
    });
    if (claim.claimed === 'taken') return;
    if (claim.claimed === 'skipped') {
      output.note({
        event: 'skipped',
        level: 'warning',
        plan: plan.name,
        runId: claim.run.id,
        fire: job.fire,
        message: `run due at ${job.fire} skipped: ${claim.run.error}`,
      });
      return;
    }
    const running: RunningRun = {
      startedAt: new Date(job.fire),
      controller: new AbortController(),
      runId: claim.run.id,
    };
    const previous = this.#running.get(plan.name);
    this.#running.set(plan.name, running);
    running.done = Promise.resolve(previous?.done)
      .then(() => this.#run(entry.scheduled, running, claim.run.id))
      .catch((error: unknown) => this.#bug(plan.name, error))
      .finally(() => {
        if (this.#running.get(plan.name) === running) this.#running.delete(plan.name);
      });
  }

  // Runs of hubs that stopped beating (or of this hub's killed processes): failed, their holds freed.
  async #reap(): Promise<void> {
    try {
      for (const run of await this.#options.store.reapDeadRuns()) {
        this.#options.output.note({
          event: 'reaped',
          level: 'warning',
          plan: run.plan,
          runId: run.id,
          hub: run.hub,
          message: `run ${run.id} marked failed: ${run.error}`,
        });
      }
    } catch (error) {
      this.#queueError(undefined, 'could not look for runs of dead hubs', error);
    }
  }

  // The database or queue failing (a network blip, a restart): said, and tried again at the next beat or fire.
  #queueError(plan: string | undefined, doing: string, error: unknown): void {
    const message = `${doing}: ${(error as Error).message ?? String(error)}`;
    this.#options.output.note({ event: 'queue-error', level: 'error', ...(plan ? { plan } : {}), message });
  }

  // catchUp: latest — runs once now each plan whose last scheduled time passed without a run (on
  // any hub). With a shared schedule the catch-up goes to the queue as a fire of its own: hubs
  // starting together send it once, and one hub holding the repository (any hub, for a plan
  // without one) runs it.
  async catchUp(): Promise<void> {
    const { shared, store, output } = this.#options;
    for (const [name, { scheduled }] of this.#entries) {
      if (scheduled.plan.catchUp !== 'latest') continue;
      const [last] = await store.listRuns({ plan: name, limit: 1 });
      const missed = missedRun(scheduled.plan, last);
      if (missed === undefined) continue;
      const due = missed.toISOString();
      output.note({
        event: 'catch-up',
        level: 'info',
        plan: name,
        missed: due,
        message: `missed the run due at ${due} (catchUp: latest): ${shared ? 'sent to the shared queue, one hub runs it now' : 'running it now'}`,
      });
      if (shared === undefined) this.fire(name, 'catch-up');
      else
        await shared
          .send(repositoryOf(scheduled.plan), { plan: name, fire: due, catchUp: true })
          .catch((error: unknown) =>
            this.#queueError(name, `could not send the catch-up of the run due at ${due}`, error),
          );
    }
  }

  // A fire of the plan's schedule: for its latest scheduled time not after now. After the clock is
  // set back (NTP stepping a clock that ran fast), the times it passes again already ran: they are
  // not run twice. After it jumps forward, the times jumped over are one run, now
  // (docs/how-it-works.md#when-the-hubs-clock-jumps).
  #fireDue(name: string): void {
    const entry = this.#entries.get(name);
    if (entry === undefined || this.#stopping) return;
    const due = entry.cron.previousRuns(1, new Date(Date.now() + 1))[0];
    const last = entry.lastDue;
    if (due !== undefined && last !== undefined && due.getTime() <= last.getTime()) {
      this.#options.output.note({
        event: 'clock-set-back',
        level: 'warning',
        plan: name,
        due: due.toISOString(),
        message: `the clock was set back: the run due at ${due.toISOString()} is not run again (the last run was for ${last.toISOString()})`,
      });
      return;
    }
    if (due !== undefined) entry.lastDue = due;
    this.fire(name, 'schedule');
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
    clearInterval(this.#reaper);
    for (const entry of this.#entries.values()) entry.cron.stop();
    const runs = [...this.#running.values()];
    for (const run of runs) run.controller.abort(reason);
    await Promise.allSettled(runs.map((run) => run.done));
    return runs.length;
  }

  // runId: a run already recorded (a claimed fire of the shared schedule).
  async #run(scheduled: SchedulePlan, running: RunningRun, runId?: string): Promise<void> {
    const { store, output } = this.#options;
    const name = scheduled.plan.name;
    let plan: Plan;
    try {
      plan = planAtFireTime(scheduled, this.#options.env);
    } catch (error) {
      // The run cannot start (an environment variable is missing): history still shows it.
      const message = isSendenseError(error) ? error.describe() : String(error);
      const run =
        runId !== undefined
          ? { id: runId }
          : await store.createRun({
              plan: name,
              kind: scheduled.plan.kind,
              trigger: 'schedule',
              planFile: scheduled.plan.origin.file,
            });
      await store.finishRun(run.id, 'failed', message);
      output.note({
        event: 'run-not-started',
        level: 'error',
        plan: name,
        runId: run.id,
        message: `run ${run.id} failed to start: ${message}`,
      });
      return;
    }
    const reporter = watchRunId(output.reporterFor(name), running);
    const result = await runPlan(plan, {
      store,
      reporter,
      trigger: 'schedule',
      signal: running.controller.signal,
      hub: this.#options.hub,
      queuedAt: running.startedAt,
      ...(runId !== undefined ? { runId } : {}),
      ...(this.#options.env !== undefined ? { env: this.#options.env } : {}),
    });
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
      this.#options.output.note({
        event: 'skipped',
        level: 'warning',
        plan: plan.name,
        runId: skipped.id,
        message: `${why} run skipped: ${reason}`,
      });
    } catch (error) {
      this.#bug(plan.name, error);
    }
  }

  // Something that should not happen; the scheduler keeps going for the other plans.
  #bug(name: string, error: unknown): void {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.#options.output.note({
      event: 'internal-error',
      level: 'error',
      plan: name,
      message: `internal error (a bug, please report it): ${text}`,
    });
  }
}

// The repository whose queue a fire goes to; undefined: a plan that keeps none (replicate, a drill of a replica), whose
// fires any hub may run (docs/operations.md#many-hubs).
function repositoryOf(plan: Plan): string | undefined {
  return 'repository' in plan ? plan.repository?.path : undefined;
}

function mayUse(hub: HubConfig, repository: string): boolean {
  try {
    checkHubRepository(hub, repository);
    return true;
  } catch {
    return false;
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
