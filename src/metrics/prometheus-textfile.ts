// Prometheus textfile metrics of a plan after each run (node_exporter's textfile collector): last
// run and last success times, duration, bytes, status, and its VMs' points in the repository
// (./repository-metrics.ts). Written beside and renamed into place, so the collector never reads
// half a file.

import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { isRepositoryPlan, kindOf } from '../kinds/index.js';
import type { Plan, RepositoryPlan } from '../plan/types.js';
import { pointTime } from '../replica/replica-points.js';
import { summarizeVmPoints, vmsInRepository, type VmPoints } from '../repository/vm-points.js';
import { createNewFile } from '../repository/new-file.js';
import type { Run, Store } from '../store/index.js';
import { escapeLabel } from './labels.js';
import { repositoryGauges } from './repository-metrics.js';

const STATUSES = ['succeeded', 'failed', 'interrupted'] as const;

export interface RunMetrics {
  readonly plan: string;
  readonly vm: string;
  readonly kind: string;
  readonly status: string;
  readonly endedAt: number;
  readonly seconds: number;
  readonly bytes: number;
  /** Unix time of the last successful run; 0 when there was none. */
  readonly lastSuccess: number;
  /** A replicate plan: Unix time of the replica's newest point (when the source was read); 0: none yet. */
  readonly replicaPoint?: number;
  /** Every plan but replicate: the points of its VM(s) in its repository. */
  readonly repositories?: readonly VmPoints[];
  /** A plan whose runs drilled points (docs/drills.md): its last passing drill; 0: none passed yet. */
  readonly drill?: { readonly lastSuccess: number; readonly recoverySeconds: number | null };
}

// The file for this plan: `{plan}` in the path is its name.
export function metricsPath(template: string, plan: string): string {
  return template.replaceAll('{plan}', plan);
}

// Metrics of the plan's last finished run, from the state (the one that just ended).
export async function planMetrics(store: Store, plan: Plan, bytes: number): Promise<RunMetrics | undefined> {
  const runs = await store.listRuns({ plan: plan.name, limit: 200 });
  const finished = (run: Run) => run.endedAt !== null && (STATUSES as readonly string[]).includes(run.status);
  const last = runs.find(finished);
  if (last === undefined) return undefined;
  const success = runs.find((run) => run.status === 'succeeded' && run.endedAt !== null);
  const replicaPoint = kindOf(plan).pointsOn === 'replica' ? await newestReplicaPoint(store, plan.name) : undefined;
  const repositories = isRepositoryPlan(plan) ? await repositoryPoints(store, plan) : undefined;
  const drill = await drillFacts(store, plan.name);
  return {
    ...(replicaPoint === undefined ? {} : { replicaPoint }),
    ...(drill === undefined ? {} : { drill }),
    ...(repositories === undefined ? {} : { repositories }),
    plan: plan.name,
    vm: plan.vm.name,
    kind: plan.kind,
    status: last.status,
    endedAt: Date.parse(last.endedAt!) / 1000,
    seconds: (Date.parse(last.endedAt!) - Date.parse(last.startedAt)) / 1000,
    bytes,
    lastSuccess: success ? Date.parse(success.endedAt!) / 1000 : 0,
  };
}

// Its VM's points, or for `vm: all` (verify, copy) those of every VM in the repository.
async function repositoryPoints(store: Store, plan: RepositoryPlan): Promise<VmPoints[]> {
  const kind = kindOf(plan);
  const only = kind.pointsVm === undefined ? plan.vm.name : kind.pointsVm(plan);
  // A drill of a replica's point (docs/drills.md#a-replicas-point) reads no repository.
  if (plan.repository === undefined) return [];
  const backups = await store.listBackups(only === undefined ? {} : { vm: only });
  const repository = plan.repository.path;
  const vms = only === undefined ? vmsInRepository(backups, repository) : [only];
  return vms.map((vm) => summarizeVmPoints(backups, repository, vm));
}

// The plan's drills, when its runs recorded any: when the last one that passed ended, and its recovery time.
async function drillFacts(store: Store, plan: string): Promise<RunMetrics['drill']> {
  if ((await store.listDrills({ plan }, 1)).length === 0) return undefined;
  const [passed] = await store.listDrills({ plan, outcome: 'passed' }, 1);
  if (passed === undefined) return { lastSuccess: 0, recoverySeconds: null };
  return {
    lastSuccess: Date.parse(passed.endedAt) / 1000,
    recoverySeconds: passed.heartbeatSeconds ?? passed.bootSeconds,
  };
}

async function newestReplicaPoint(store: Store, plan: string): Promise<number> {
  const point = await store.latestCompleteReplicaPoint(plan);
  return point === undefined ? 0 : Date.parse(pointTime(point)) / 1000;
}

// A replica's newest point, and its age when the file was written (docs/replication.md#monitoring).
function replicaGauges(m: RunMetrics, labels: string): string[] {
  if (m.replicaPoint === undefined) return [];
  const lag = m.replicaPoint === 0 ? 0 : Math.max(0, Math.round(Date.now() / 1000 - m.replicaPoint));
  return [
    `# HELP sendense_replica_point_timestamp_seconds When the source was read for the replica's newest point (Unix time; 0: none yet). Alert on time() minus this.`,
    '# TYPE sendense_replica_point_timestamp_seconds gauge',
    `sendense_replica_point_timestamp_seconds{${labels}} ${m.replicaPoint}`,
    "# HELP sendense_replica_lag_seconds Age of the replica's newest point when the last sync ended.",
    '# TYPE sendense_replica_lag_seconds gauge',
    `sendense_replica_lag_seconds{${labels}} ${lag}`,
  ];
}

// A drill plan's last proof (docs/drills.md#status): when it passed, and the recovery time it measured.
function drillGauges(m: RunMetrics, labels: string): string[] {
  if (m.drill === undefined) return [];
  return [
    '# HELP sendense_drill_last_success_timestamp_seconds When the last drill that passed ended (Unix time; 0: none yet).',
    '# TYPE sendense_drill_last_success_timestamp_seconds gauge',
    `sendense_drill_last_success_timestamp_seconds{${labels}} ${m.drill.lastSuccess}`,
    ...(m.drill.recoverySeconds === null
      ? []
      : [
          '# HELP sendense_drill_recovery_seconds Seconds from the start of the last passing drill to its heartbeat (else to its boot).',
          '# TYPE sendense_drill_recovery_seconds gauge',
          `sendense_drill_recovery_seconds{${labels}} ${m.drill.recoverySeconds}`,
        ]),
  ];
}

// The exposition format, version 0.0.4.
export function formatMetrics(m: RunMetrics): string {
  const labels = `plan="${escapeLabel(m.plan)}",vm="${escapeLabel(m.vm)}"`;
  const gauge = (name: string, help: string, lines: string[]) => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} gauge`,
    ...lines,
  ];
  return [
    ...gauge('sendense_last_run_timestamp_seconds', 'When the last run of the plan ended (Unix time).', [
      `sendense_last_run_timestamp_seconds{${labels}} ${m.endedAt}`,
    ]),
    ...gauge(
      'sendense_last_success_timestamp_seconds',
      'When the last successful run of the plan ended (Unix time; 0: never).',
      [`sendense_last_success_timestamp_seconds{${labels}} ${m.lastSuccess}`],
    ),
    ...gauge('sendense_last_run_duration_seconds', 'How long the last run took.', [
      `sendense_last_run_duration_seconds{${labels}} ${m.seconds}`,
    ]),
    ...gauge('sendense_last_run_bytes', 'Bytes the last run copied, all disks together.', [
      `sendense_last_run_bytes{${labels}} ${m.bytes}`,
    ]),
    ...gauge(
      'sendense_last_run_status',
      'Outcome of the last run: 1 for its status, 0 for the others.',
      STATUSES.map((status) => `sendense_last_run_status{${labels},status="${status}"} ${m.status === status ? 1 : 0}`),
    ),
    ...replicaGauges(m, labels),
    ...drillGauges(m, labels),
    ...repositoryGauges(m.plan, m.repositories ?? []),
    '',
  ].join('\n');
}

// Atomic: a temporary file in the same directory, renamed over the old one; readable by the
// collector (0644) whatever the umask.
export async function writeMetricsFile(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    const handle = await createNewFile(temporary, 0o644);
    try {
      await handle.writeFile(text);
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
