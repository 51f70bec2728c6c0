// What `sendense-run status` says of each plan under some paths (docs/operations.md#status): its
// schedule and next run, its last finished run, its VM's newest point, chain and space in the
// repository, and for a replicate plan how far the replica is behind, or where it runs since a
// failover. `status --json` prints one per line; GET /api/v1/status answers them under `plans`.

import { Type, type Static } from '@sinclair/typebox';
import { Cron } from 'croner';
import { isRepositoryPlan } from '../kinds/index.js';
import { drillSource } from '../plan/drill-source.js';
import { formatDiagnostic } from '../plan/plan-diagnostic.js';
import type { BackupPlan, DrillPlan, Plan } from '../plan/types.js';
import { anomalyStatus } from '../anomaly/anomaly-status.js';
import { validatePlanFiles } from '../plan/validate-plan-files.js';
import { pointTime } from '../replica/replica-points.js';
import { summarizeVmPoints } from '../repository/vm-points.js';
import type { Run, Store } from '../store/index.js';
import { Nullable } from './schema-types.js';

const FINISHED: readonly string[] = ['succeeded', 'failed', 'interrupted'];

export const PlanStatusInput = Type.Object(
  { paths: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'plan FILEs or DIRs' }) },
  { additionalProperties: false },
);
export type PlanStatusInput = Static<typeof PlanStatusInput>;

export const PlanStatus = Type.Object(
  {
    plan: Type.String(),
    file: Type.String(),
    vm: Type.String(),
    kind: Type.String(),
    schedule: Nullable(Type.String()),
    timezone: Nullable(Type.String()),
    nextRun: Nullable(Type.String({ description: "the schedule's next time (ISO-8601 UTC), in the plan's timezone" })),
    running: Type.Boolean({ description: 'a run of the plan is going now' }),
    lastRun: Nullable(
      Type.Object(
        {
          id: Type.String(),
          status: Type.String({ description: '`succeeded`, `failed` or `interrupted`' }),
          startedAt: Type.String(),
          endedAt: Type.String(),
          error: Nullable(Type.String()),
          acknowledgedBy: Nullable(
            Type.String({ description: 'a failed run an operator acknowledged: who (`status` exits 0 for it)' }),
          ),
        },
        { additionalProperties: false, description: 'the newest finished run' },
      ),
    ),
    newestPoint: Nullable(
      Type.Object(
        { id: Type.String(), takenAt: Type.String(), ageSeconds: Type.Number() },
        {
          additionalProperties: false,
          description: "a backup in the plan's repository, or a replicate plan's replica point",
        },
      ),
    ),
    chainLength: Nullable(Type.Integer({ description: "points in the newest point's chain; null: replicate plan" })),
    repository: Nullable(Type.String()),
    repositoryBytes: Nullable(Type.Integer({ description: 'space `<repository>/<vm>` takes on disk' })),
    replicaLagSeconds: Nullable(Type.Number({ description: "a replicate plan's newest point's age" })),
    failedOver: Nullable(
      Type.Object(
        {
          domain: Type.String(),
          node: Type.String(),
          at: Type.String(),
          pointId: Type.String(),
          failback: Type.String(),
        },
        {
          additionalProperties: false,
          description:
            'a replicate plan failed over on purpose (docs/replication.md#failback): its refused syncs are not failures',
        },
      ),
    ),
    suspectPoints: Type.Array(
      Type.Object({ id: Type.String(), reasons: Type.String() }, { additionalProperties: false }),
      { description: "a backup plan's suspect points not cleared yet (docs/anomaly.md#status); empty for other kinds" },
    ),
    anomalyLearning: Nullable(Type.String({ description: "a backup plan still learning its VM's history" })),
    lastProvenBootable: Nullable(
      Type.Object(
        {
          backupId: Type.String(),
          at: Type.String({ description: 'when the drill that proved it ended' }),
          runId: Type.String(),
          recoverySeconds: Nullable(
            Type.Number({ description: 'from the start of its domain to its heartbeat (else to boot)' }),
          ),
        },
        {
          additionalProperties: false,
          description:
            "the newest point of the plan's VM a drill proved bootable (docs/drills.md#status); null: none yet",
        },
      ),
    ),
  },
  { additionalProperties: false, description: 'a plan as `status --json` prints it (docs/json-events.md)' },
);
export type PlanStatus = Static<typeof PlanStatus>;

export interface PlansStatus {
  /** Each valid plan under the paths, in the order found. */
  readonly plans: readonly PlanStatus[];
  /** What is wrong with each path or plan that was skipped, one line each. */
  readonly skipped: readonly string[];
}

// store undefined: no state database yet (nothing has run).
export async function plansStatus(store: Store | undefined, input: PlanStatusInput): Promise<PlansStatus> {
  const { results, pathErrors } = await validatePlanFiles(input.paths);
  const invalid = [...pathErrors, ...results.flatMap((result) => (result.plan === undefined ? result.errors : []))];
  const plans = results.map((result) => result.plan).filter((plan): plan is Plan => plan !== undefined);
  return {
    plans: await Promise.all(plans.map((plan) => planStatus(plan, store))),
    skipped: invalid.map(formatDiagnostic),
  };
}

// One plan's status; store undefined: no state database yet (nothing has run).
async function planStatus(plan: Plan, store: Store | undefined, now = new Date()): Promise<PlanStatus> {
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
    lastProvenBootable: await lastProvenBootable(plan, store),
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

// The VM's newest drill that passed, in the plan's repository (any plan's drill of it).
async function lastProvenBootable(plan: Plan, store: Store | undefined): Promise<PlanStatus['lastProvenBootable']> {
  if (store === undefined || !isRepositoryPlan(plan)) return null;
  // Only a drill of a replica's point has no repository: its drills are recorded under replica:PLAN.
  const repository = plan.repository?.path ?? drillSource(plan as DrillPlan);
  const [drill] = await store.listDrills({ vm: plan.vm.name, repository, outcome: 'passed' }, 1);
  if (drill === undefined) return null;
  return {
    backupId: drill.backupId,
    at: drill.endedAt,
    runId: drill.runId,
    recoverySeconds: drill.heartbeatSeconds ?? drill.bootSeconds,
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
  // A drill of a replica's point (docs/drills.md#a-replicas-point): its points are the replicate plan's.
  if (plan.repository === undefined)
    return { newestPoint: null, chainLength: null, repository: null, repositoryBytes: null, replicaLagSeconds: null };
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
  return { suspectPoints: [...status.suspectPoints], anomalyLearning: status.learning };
}

function nextRun(plan: Plan, now: Date): string | null {
  if (plan.schedule === undefined) return null;
  const cron = new Cron(plan.schedule, { timezone: plan.timezone, paused: true });
  const next = cron.nextRun(now);
  cron.stop();
  return next?.toISOString() ?? null;
}

function lastRun(run: Run): NonNullable<PlanStatus['lastRun']> {
  return {
    id: run.id,
    status: run.status,
    startedAt: run.startedAt,
    endedAt: run.endedAt!,
    error: run.error,
    acknowledgedBy: run.acknowledgedBy,
  };
}
