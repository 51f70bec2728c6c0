// What `sendense-run status` says of one plan (docs/operations.md#status): its schedule and next
// run, its last finished run, its VM's newest point, chain and space in the repository, and for
// a replicate plan how far the replica is behind, or where it runs since a failover.

import { Cron } from 'croner';
import { isRepositoryPlan } from '../kinds/index.js';
import type { BackupPlan, Plan } from '../plan/types.js';
import { pointTime } from '../replica/replica-points.js';
import { summarizeVmPoints } from '../repository/vm-points.js';
import type { Run, Store } from '../store/index.js';
import { anomalyStatus } from '../anomaly/anomaly-status.js';

const FINISHED: readonly string[] = ['succeeded', 'failed', 'interrupted'];

export interface PlanStatus {
  readonly plan: string;
  readonly file: string;
  readonly vm: string;
  readonly kind: Plan['kind'];
  readonly schedule: string | null;
  readonly timezone: string | null;
  /** The schedule's next time (ISO-8601 UTC), in the plan's timezone; null without a schedule. */
  readonly nextRun: string | null;
  /** A run of the plan is going now. */
  readonly running: boolean;
  /** The newest finished run (succeeded, failed, interrupted); null: none yet. */
  readonly lastRun: {
    readonly id: string;
    readonly status: string;
    readonly startedAt: string;
    readonly endedAt: string;
    readonly error: string | null;
  } | null;
  /** The newest complete point: a backup in the repository, or a replicate plan's replica point. */
  readonly newestPoint: { readonly id: string; readonly takenAt: string; readonly ageSeconds: number } | null;
  /** Points in the newest backup's chain; null for a replicate plan. */
  readonly chainLength: number | null;
  /** The plan's repository; null for a replicate plan. */
  readonly repository: string | null;
  /** Space `<repository>/<vm>` takes on disk; null when it is not there (or a replicate plan). */
  readonly repositoryBytes: number | null;
  /** A replicate plan: the newest replica point's age; null otherwise, or before its first point. */
  readonly replicaLagSeconds: number | null;
  /**
   * A replicate plan failed over on purpose (docs/replication.md#failback): where its replica domain
   * runs since when, and the command that switches back; its refused syncs are not failures. null otherwise.
   */
  readonly failedOver: {
    readonly domain: string;
    readonly node: string;
    readonly at: string;
    readonly pointId: string;
    readonly failback: string;
  } | null;
  /** A backup plan's suspect points not cleared yet (docs/anomaly.md#status); empty for other kinds. */
  readonly suspectPoints: readonly { readonly id: string; readonly reasons: string }[];
  /** A backup plan still learning its VM's history; null otherwise. */
  readonly anomalyLearning: string | null;
}

// store undefined: no state database yet (nothing has run).
export async function planStatus(plan: Plan, store: Store | undefined, now = new Date()): Promise<PlanStatus> {
  const runs = store === undefined ? [] : await store.listRuns({ plan: plan.name, limit: 200 });
  const last = runs.find((run) => run.endedAt !== null && FINISHED.includes(run.status));
  const points = await newestPoint(plan, store, now);
  const failover = isRepositoryPlan(plan) ? undefined : await store?.replicaFailover(plan.name);
  return {
    plan: plan.name,
    file: plan.origin.file,
    vm: plan.vm.name,
    kind: plan.kind,
    schedule: plan.schedule ?? null,
    timezone: plan.timezone ?? null,
    nextRun: nextRun(plan, now),
    running: runs.some((run) => run.status === 'running'),
    lastRun: last === undefined ? null : lastRun(last),
    ...points,
    ...(await anomalyFacts(plan, store)),
    failedOver:
      failover === undefined
        ? null
        : {
            domain: failover.domain,
            node: failover.node,
            at: failover.at,
            pointId: failover.pointId,
            failback: `sendense-run failback ${plan.origin.file}`,
          },
  };
}

type PointFacts = Pick<
  PlanStatus,
  'newestPoint' | 'chainLength' | 'repository' | 'repositoryBytes' | 'replicaLagSeconds'
>;

async function newestPoint(plan: Plan, store: Store | undefined, now: Date): Promise<PointFacts> {
  const age = (iso: string) => Math.max(0, (now.getTime() - Date.parse(iso)) / 1000);
  if (!isRepositoryPlan(plan)) {
    const point = await store?.latestCompleteReplicaPoint(plan.name);
    const takenAt = point === undefined ? undefined : pointTime(point);
    return {
      newestPoint: point === undefined ? null : { id: point.id, takenAt: takenAt!, ageSeconds: age(takenAt!) },
      chainLength: null,
      repository: null,
      repositoryBytes: null,
      replicaLagSeconds: takenAt === undefined ? null : age(takenAt),
    };
  }
  const repository = plan.repository.path;
  const backups = store === undefined ? [] : await store.listBackups({ vm: plan.vm.name });
  const summary = summarizeVmPoints(backups, repository, plan.vm.name);
  const newest = summary.newest;
  return {
    newestPoint:
      newest === undefined ? null : { id: newest.id, takenAt: newest.startedAt, ageSeconds: age(newest.startedAt) },
    chainLength: summary.chainLength,
    repository,
    repositoryBytes: summary.bytes,
    replicaLagSeconds: null,
  };
}

async function anomalyFacts(
  plan: Plan,
  store: Store | undefined,
): Promise<Pick<PlanStatus, 'suspectPoints' | 'anomalyLearning'>> {
  // A plan with an anomaly block (backup and incremental plans: docs/anomaly.md).
  const settings = (plan as Partial<BackupPlan>).anomaly;
  if (settings === undefined) return { suspectPoints: [], anomalyLearning: null };
  const backups = store === undefined ? [] : await store.listBackups({ vm: plan.vm.name });
  const status = await anomalyStatus(plan as BackupPlan, backups, store);
  return { suspectPoints: status.suspectPoints, anomalyLearning: status.learning };
}

function nextRun(plan: Plan, now: Date): string | null {
  if (plan.schedule === undefined) return null;
  const cron = new Cron(plan.schedule, { timezone: plan.timezone, paused: true });
  const next = cron.nextRun(now);
  cron.stop();
  return next?.toISOString() ?? null;
}

function lastRun(run: Run): NonNullable<PlanStatus['lastRun']> {
  return { id: run.id, status: run.status, startedAt: run.startedAt, endedAt: run.endedAt!, error: run.error };
}
