// One schedule shared by many hubs (docs/how-it-works.md#scale), on pg-boss (a job queue in the same
// PostgreSQL as the state): every hub computes the fire times of every plan and sends each fire
// as a job whose id is derived from (plan, fire time), so however many hubs send it, the queue
// holds it once. There is one queue per repository; a hub works only the queues of the
// repositories its hub config lists, so a fire runs on a hub that holds its repository. A plan
// without a repository (replicate: the hub holds no copy) has one queue every hub works. The job
// is only the hand-over: the handler claims the fire in the state (runs.fire is unique) and the
// run goes on outside the job.

import { createHash } from 'node:crypto';
import PgBoss from 'pg-boss';
import { parsePostgresUrl, passwordFromFile } from '../store/database-target.js';

export interface FireJob {
  readonly plan: string;
  /** ISO-8601 UTC: the scheduled time, the same on every hub. */
  readonly fire: string;
  /** catchUp: latest — a fire missed while no hub was up, run however late it is taken. */
  readonly catchUp?: boolean;
}

export type FireHandler = (job: FireJob) => Promise<void>;

const SCHEMA = 'sendense_fires';
// A fire left in the queue longer than this (no hub holding its repository was up) is dropped
// by pg-boss; the handler records fires that arrive late as skipped before that.
const RETENTION_MINUTES = 24 * 60;

// A job only hands the fire over (the handler claims it in the state, in milliseconds): one
// that a hub took and did not finish (it died, or was stopping) expires after the hub's
// dead-after bound and goes to another hub. Claiming is idempotent (a job that expires while
// its claim is under way changes nothing), and a fire taken late is recorded as skipped.
function jobOptions(expireInSeconds: number) {
  return { retryLimit: 5, retryDelay: 1, expireInSeconds, retentionMinutes: RETENTION_MINUTES } as const;
}

// The queue of the plans that keep no repository: every hub scheduling one works it.
export const ANY_HUB_QUEUE = 'fires-any-hub';

// A queue name per repository (pg-boss allows letters, digits, - _ . / only); undefined: no repository.
export function fireQueue(repository: string | undefined): string {
  if (repository === undefined) return ANY_HUB_QUEUE;
  return `fires-${createHash('sha256').update(repository).digest('hex').slice(0, 24)}`;
}

// A UUID from (plan, fire): the same job id on every hub, so the queue holds the fire once.
export function fireJobId(plan: string, fire: string): string {
  const hex = createHash('sha256').update(`${plan}\n${fire}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

// The fire's key in the state (runs.fire): a catch-up is a fire of its own, apart from the fire
// it makes up for (which may have been recorded as skipped).
export function fireKey(job: FireJob): string {
  return `${job.plan}@${job.fire}${job.catchUp ? '#catch-up' : ''}`;
}

export class SharedFires {
  readonly #boss: PgBoss;
  readonly #jobOptions: ReturnType<typeof jobOptions>;
  /** Each queue created once per hub: every plan's first fire of a second would otherwise run pg-boss's DDL at once. */
  readonly #queues = new Map<string, Promise<void>>();
  readonly #working = new Set<string>();

  private constructor(boss: PgBoss, expireInSeconds: number) {
    this.#boss = boss;
    this.#jobOptions = jobOptions(expireInSeconds);
  }

  // deadAfterMs: the heartbeat bound; a job taken by a hub that died goes to another after it.
  static async start(url: string, deadAfterMs: number, onError: (error: Error) => void): Promise<SharedFires> {
    const expireInSeconds = Math.max(1, Math.ceil(deadAfterMs / 1000));
    const target = parsePostgresUrl(url);
    const password = passwordFromFile();
    const boss = new PgBoss({
      host: target.host,
      port: target.port,
      database: target.database,
      ...(target.user ? { user: target.user } : {}),
      ...(password !== undefined ? { password } : {}),
      application_name: 'sendense-run schedule',
      schema: SCHEMA,
      max: 3,
      // pg-boss's own cron is not used: every hub computes the fire times with croner.
      schedule: false,
      // Expired jobs are failed (and retried) by maintenance: as often as they may expire.
      maintenanceIntervalSeconds: expireInSeconds,
    });
    boss.on('error', onError);
    await boss.start();
    return new SharedFires(boss, expireInSeconds);
  }

  // Enqueues a fire once, whichever hub sends it first; the others' sends are no-ops.
  async send(repository: string | undefined, job: FireJob): Promise<boolean> {
    const queue = await this.#queue(repository);
    const id = await this.#boss.send(
      queue,
      { ...job },
      { id: fireJobId(job.plan, job.catchUp ? `${job.fire}#catch-up` : job.fire), ...this.#jobOptions },
    );
    return id !== null;
  }

  // Takes fires of the repository's queue and hands each to `handle` (which should not throw).
  async work(repository: string | undefined, handle: FireHandler): Promise<void> {
    const queue = await this.#queue(repository);
    if (this.#working.has(queue)) return;
    this.#working.add(queue);
    await this.#boss.work<FireJob>(queue, { batchSize: 10, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      for (const job of jobs) await handle(job.data);
    });
  }

  async stop(): Promise<void> {
    await this.#boss.stop({ graceful: true, wait: true, timeout: 10_000 });
  }

  async #queue(repository: string | undefined): Promise<string> {
    const name = fireQueue(repository);
    let created = this.#queues.get(name);
    if (created === undefined) {
      created = this.#createQueue(name);
      this.#queues.set(name, created);
      // A failed creation is tried again by the next fire or work, not remembered.
      created.catch(() => this.#queues.delete(name));
    }
    await created;
    return name;
  }

  // pg-boss's createQueue is DDL (a partition of its job table): skipped when another hub made it.
  async #createQueue(name: string): Promise<void> {
    if ((await this.#boss.getQueue(name)) !== null) return;
    await retryTransient(() => this.#boss.createQueue(name, { name, policy: 'standard', ...this.#jobOptions }));
  }
}

// PostgreSQL errors another transaction caused, gone when tried again: two hubs starting together
// create the same queue at once, and pg-boss's DDL then meets a deadlock (40P01), a serialization
// failure (40001) or the other hub's row or table (23505, 42P07). createQueue sees the queue then.
const TRANSIENT = new Set(['40P01', '40001', '23505', '42P07']);

async function retryTransient<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts || !TRANSIENT.has(String((error as { code?: unknown }).code))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200 * attempt));
    }
  }
}
