// The hub's state (docs/api.md#status-history-metrics, #replicas-and-failover): status (the
// dashboard's facts), history, metrics in Prometheus text, replicas, failover (test and real),
// doctor. The readings are the core's (src/core/), which the commands of the same names print.

import { statfsSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import { Cron } from 'croner';
import { listPoints, type ListedPoint } from '../../core/list-points.js';
import { ListedReplica, listReplicas } from '../../core/list-replicas.js';
import { Acknowledgement, acknowledgeRun } from '../../core/acknowledge-run.js';
import { plansStatus } from '../../core/plan-status.js';
import { HistoryRun, runHistory } from '../../core/run-history.js';
import { Trends, trendsOf } from '../../core/trends.js';
import { formatMetrics, planMetrics } from '../../metrics/prometheus-textfile.js';
import { kindOf } from '../../kinds/index.js';
import { ApiError } from '../api-error.js';
import type { ServedPlan } from '../plan-set.js';
import type { RouteCall, RouteDef } from '../route.js';
import { planVm } from './plan-routes.js';
import { servedPlan, startTask, taskJson, taskRequest } from './route-helpers.js';

const Wait = Type.Object({ wait: Type.Optional(Type.Boolean()) });
const Name = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) });
const DAY_MS = 86_400_000;

async function servedFiles(call: RouteCall): Promise<string[]> {
  return (await call.api.plans.all()).filter((plan) => plan.valid).map((plan) => plan.file);
}

// How often the schedule fires (the gap between its next two times); undefined without one.
function scheduleGapMs(schedule: string | null | undefined, timezone: string | null | undefined): number | undefined {
  if (!schedule) return undefined;
  const [first, second] = new Cron(schedule, { paused: true, ...(timezone ? { timezone } : {}) }).nextRuns(2);
  return first && second ? second.getTime() - first.getTime() : undefined;
}

// Each repository's use, free space and, from the bytes its points took in the last 7 days, the day it would be full.
function repositoryFacts(points: readonly ListedPoint[], now: number): Record<string, unknown>[] {
  const byRepository = new Map<string, ListedPoint[]>();
  for (const point of points)
    byRepository.set(point.repository, [...(byRepository.get(point.repository) ?? []), point]);
  return [...byRepository].map(([repository, own]) => {
    const used = own.reduce((total, point) => total + (point.onDiskBytes ?? 0), 0);
    const lastWeek = own
      .filter((point) => now - Date.parse(point.startedAt) <= 7 * DAY_MS)
      .reduce((total, point) => total + (point.onDiskBytes ?? 0), 0);
    let free: number | null = null;
    try {
      const fs = statfsSync(repository);
      free = Number(fs.bavail) * Number(fs.bsize);
    } catch {
      free = null;
    }
    const perDay = lastWeek / 7;
    const fullAt = free !== null && perDay > 0 ? new Date(now + (free / perDay) * DAY_MS).toISOString() : null;
    const verified = own.map((point) => point.verifiedAt).filter((at): at is string => at !== null);
    return {
      repository,
      points: own.length,
      usedBytes: used,
      freeBytes: free,
      bytesPerDay: Math.round(perDay),
      estimatedFullAt: fullAt,
      lastVerifiedAt: verified.sort().at(-1) ?? null,
    };
  });
}

// Failover starts a plan's replica: only a plan whose points are on a replica node has one.
function refuseWithoutReplica(plan: ServedPlan): void {
  if (kindOf(plan.plan!).pointsOn !== 'replica')
    throw new ApiError(
      'bad-request',
      `plan ${plan.name} is a ${plan.kind} plan: failover needs a plan with a replica (kind replicate)`,
      'name',
    );
}

export const hubRoutes: readonly RouteDef[] = [
  {
    method: 'GET',
    url: '/api/v1/status',
    role: 'audit',
    tag: 'status',
    summary:
      "The dashboard's facts: each served plan's status (`status --json`), VMs with and without a plan, failures of the last 7 days (each, and counted per plan: open and acknowledged), plans whose newest point is older than their schedule allows (RPO missed), each repository's use and estimated full date, the last verify, replicas' lag, running tasks",
    response: Type.Object({}, { additionalProperties: true }),
    async handle(call) {
      const now = Date.now();
      const files = await servedFiles(call);
      const { store } = call.api;
      const plans = files.length === 0 ? [] : (await plansStatus(store, { paths: files })).plans;
      const points = await listPoints(store, {});
      const runs = await store.listRuns({ limit: 500 });
      const failures = runs.filter((run) => run.status === 'failed' && now - Date.parse(run.startedAt) <= 7 * DAY_MS);
      const failuresByPlan = [...new Set(failures.map((run) => run.plan))].map((plan) => {
        const own = failures.filter((run) => run.plan === plan);
        return {
          plan,
          open: own.filter((run) => run.acknowledgedBy === null).length,
          acknowledged: own.filter((run) => run.acknowledgedBy !== null).length,
          lastAt: own[0]!.startedAt,
        };
      });
      const rpoMissed = plans.filter((status) => {
        const gap = scheduleGapMs(status.schedule, status.timezone);
        const newest = status.newestPoint;
        if (gap === undefined) return false;
        return newest === null ? status.lastRun !== null : newest.ageSeconds * 1000 > 2 * gap;
      });
      const covered = new Set((await call.api.plans.all()).map(planVm).filter((vm): vm is string => vm !== undefined));
      const vms = [...new Set(points.map((point) => point.vm))];
      const replicas = await listReplicas(store, {}, now);
      return {
        plans,
        vms: { withPlan: [...covered].sort(), withoutPlan: vms.filter((vm) => !covered.has(vm)).sort() },
        lastRuns: runs.slice(0, 20),
        failures: failures.map((run) => ({
          id: run.id,
          plan: run.plan,
          startedAt: run.startedAt,
          error: run.error,
          acknowledgedBy: run.acknowledgedBy,
          acknowledgedAt: run.acknowledgedAt,
        })),
        failuresByPlan,
        rpoMissed: rpoMissed.map((status) => ({
          plan: status.plan,
          newestPoint: status.newestPoint,
          schedule: status.schedule,
        })),
        repositories: repositoryFacts(points, now),
        replicas,
        runningTasks: (await call.api.tasks.list(200)).filter((task) => task.status === 'running').map(taskJson),
      };
    },
  },
  {
    method: 'GET',
    url: '/api/v1/history',
    role: 'audit',
    tag: 'status',
    summary: 'Past runs, newest first (`history --json`): trigger api and the token for runs started here',
    querystring: Type.Object({
      plan: Type.Optional(Type.String({ maxLength: 200 })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
    }),
    response: Type.Object({ runs: Type.Array(HistoryRun) }),
    async handle(call) {
      const { plan, limit } = call.query as { plan?: string; limit?: number };
      return { runs: await runHistory(call.api.store, { plan: plan || undefined, limit }) };
    },
  },
  {
    method: 'GET',
    url: '/api/v1/trends',
    role: 'audit',
    tag: 'status',
    summary:
      "The console's charts: each repository's space as its points now there add up by when each was taken, and each plan's finished runs (when, seconds, bytes, status) of the last ?limit runs (default 1000)",
    querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })) }),
    response: Trends,
    async handle(call) {
      const { limit } = call.query as { limit?: number };
      const { store } = call.api;
      return trendsOf(await listPoints(store, {}), await runHistory(store, { limit: limit ?? 1000 }));
    },
  },
  {
    method: 'POST',
    url: '/api/v1/runs/:id/ack',
    role: 'operator',
    tag: 'status',
    summary:
      'Acknowledge a failed run (`ack RUN`): history keeps it failed and says who (the token) and when; `status` and the dashboard no longer count it as open',
    action: 'ack',
    params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) }),
    response: Acknowledgement,
    async handle(call) {
      call.target(`run ${call.params.id}`);
      return acknowledgeRun(call.api.store, call.params.id, `token ${call.caller.token}`);
    },
  },
  {
    method: 'GET',
    url: '/api/v1/metrics',
    role: 'audit',
    tag: 'status',
    summary: "Each served plan's metrics (the same as its --metrics-file) in the Prometheus text format",
    produces: 'text/plain; version=0.0.4',
    async handle(call) {
      const texts: string[] = [];
      for (const plan of await call.api.plans.all()) {
        if (!plan.valid || plan.plan === undefined) continue;
        const last = (await call.api.store.listRuns({ plan: plan.name, limit: 1 }))[0];
        const metrics = await planMetrics(call.api.store, plan.plan, Number(last?.bytes ?? 0));
        if (metrics) texts.push(formatMetrics(metrics));
      }
      call.reply.type('text/plain; version=0.0.4; charset=utf-8');
      return mergeMetricFamilies(texts);
    },
  },
  {
    method: 'GET',
    url: '/api/v1/replicas',
    role: 'audit',
    tag: 'replicas',
    summary: "Replicate plans' points on their replica nodes, their lag and failovers (`replicas --json`)",
    querystring: Type.Object({ plan: Type.Optional(Type.String({ maxLength: 200 })) }),
    response: Type.Object({ replicas: Type.Array(ListedReplica) }),
    async handle(call) {
      const { plan } = call.query as { plan?: string };
      return { replicas: await listReplicas(call.api.store, { plan: plan || undefined }) };
    },
  },
  {
    method: 'POST',
    url: '/api/v1/plans/:name/failover-test',
    role: 'operator',
    tag: 'replicas',
    summary: 'A throwaway boot of the replica (`failover PLAN.yaml --test`), no network: a task',
    action: 'failover-test',
    params: Name,
    querystring: Wait,
    body: Type.Optional(
      Type.Object(
        { point: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) },
        { additionalProperties: false },
      ),
    ),
    startsTask: true,
    async handle(call) {
      const plan = await servedPlan(call, call.params.name);
      refuseWithoutReplica(plan);
      const point = (call.body as { point?: string } | undefined)?.point;
      return startTask(call, {
        operation: 'failover-test',
        title: `failover test of plan ${plan.name}`,
        request: taskRequest('failover', [plan.file], { '--test': true, '--point': point }),
      });
    },
  },
  {
    method: 'POST',
    url: '/api/v1/plans/:name/failover',
    role: 'admin',
    tag: 'replicas',
    summary: 'Start the replica domain for real (`failover PLAN.yaml`): a task. force: as --force',
    action: 'failover',
    params: Name,
    querystring: Wait,
    body: Type.Optional(
      Type.Object(
        { point: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), force: Type.Optional(Type.Boolean()) },
        { additionalProperties: false },
      ),
    ),
    startsTask: true,
    async handle(call) {
      const plan = await servedPlan(call, call.params.name);
      refuseWithoutReplica(plan);
      const body = (call.body ?? {}) as { point?: string; force?: boolean };
      const request = taskRequest('failover', [plan.file], {
        '--point': body.point,
        '--force': body.force === true || undefined,
      });
      return startTask(call, { operation: 'failover', title: `failover of plan ${plan.name}`, request });
    },
  },
  {
    method: 'POST',
    url: '/api/v1/doctor',
    role: 'admin',
    tag: 'status',
    summary: 'Find and clean what crashed runs left behind (`doctor [--dry-run]`): a task',
    action: 'doctor',
    querystring: Type.Object({ wait: Type.Optional(Type.Boolean()), dryRun: Type.Optional(Type.Boolean()) }),
    startsTask: true,
    async handle(call) {
      const dryRun = call.query.dryRun === true;
      call.target(dryRun ? 'doctor --dry-run' : 'doctor');
      return startTask(call, {
        operation: 'doctor',
        title: `doctor${dryRun ? ' --dry-run' : ''}`,
        request: taskRequest('doctor', [], { '--dry-run': dryRun || undefined }),
      });
    },
  },
];

// Several plans' files each carry HELP/TYPE lines; one exposition lists each family once.
export function mergeMetricFamilies(texts: readonly string[]): string {
  const families = new Map<string, { head: string[]; samples: string[] }>();
  for (const text of texts) {
    let current: { head: string[]; samples: string[] } | undefined;
    for (const line of text.split('\n')) {
      const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
      if (meta) {
        current = families.get(meta[2]) ?? { head: [], samples: [] };
        if (!families.has(meta[2])) families.set(meta[2], current);
        if (!current.head.some((seen) => seen.startsWith(`# ${meta[1]} `))) current.head.push(line);
      } else if (line.trim() !== '' && current) {
        current.samples.push(line);
      }
    }
  }
  return (
    [...families.values()].map((family) => [...family.head, ...family.samples].join('\n')).join('\n') +
    (families.size > 0 ? '\n' : '')
  );
}
