// Past runs, newest first (docs/commands.md#history): each as recorded, its status (a run left
// `running` by a process gone from this host: died), duration, the kind taken and bytes as the run
// recorded them when it ended, and apart what became of its point since. `history --json` prints
// one per line; GET /api/v1/history answers them.

import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { kindNamed } from '../kinds/index.js';
import { isProcessAlive } from '../process/index.js';
import type { Backup, ReplicaPoint, Run, Store } from '../store/index.js';
import { Nullable } from './schema-types.js';

export const RunHistoryInput = Type.Object(
  {
    plan: Type.Optional(Type.String({ minLength: 1, description: 'only this plan' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, description: 'at most this many runs (default 50)' })),
  },
  { additionalProperties: false },
);
export type RunHistoryInput = Static<typeof RunHistoryInput>;

export const PointFate = Type.Object(
  {
    state: Type.String({
      description: 'its status now (`complete`, `damaged`, …), or `merged`, `removed`, `gone`',
    }),
    mergedInto: Type.Optional(Type.String({ description: 'merged: the point that holds its data now' })),
  },
  { additionalProperties: false },
);
export type PointFate = Static<typeof PointFate>;

export const HistoryRun = Type.Object(
  {
    id: Type.String(),
    plan: Type.String(),
    kind: Type.String({ description: "the plan's kind, or the command's (verify, prune, …)" }),
    trigger: Type.Union([Type.Literal('manual'), Type.Literal('schedule'), Type.Literal('api')]),
    status: Type.Union(
      ['running', 'succeeded', 'failed', 'interrupted', 'skipped', 'refused', 'died'].map((status) =>
        Type.Literal(status),
      ),
    ),
    startedAt: Type.String(),
    endedAt: Nullable(Type.String()),
    error: Nullable(Type.String()),
    pid: Nullable(Type.Integer()),
    hostname: Nullable(Type.String()),
    planFile: Nullable(Type.String()),
    backupId: Nullable(Type.String()),
    queuedSeconds: Nullable(Type.Number()),
    vmWaitSeconds: Nullable(Type.Number()),
    hub: Nullable(Type.String()),
    fire: Nullable(Type.String()),
    note: Nullable(Type.String()),
    bytes: Nullable(Type.Integer()),
    taken: Nullable(Type.String({ description: '`full`, `incremental`, `restore`, `copy`' })),
    actor: Nullable(Type.String()),
    acknowledgedBy: Nullable(Type.String({ description: 'a failed run an operator acknowledged (`ack RUN`): who' })),
    acknowledgedAt: Nullable(Type.String()),
    point: Nullable(PointFate),
    seconds: Nullable(Type.Number()),
  },
  { additionalProperties: false, description: 'a run as `history --json` prints it (docs/json-events.md)' },
);
export type HistoryRun = Static<typeof HistoryRun>;

export async function runHistory(store: Store, input: RunHistoryInput): Promise<HistoryRun[]> {
  const runs = await store.listRuns({ plan: input.plan, limit: input.limit ?? 50 });
  const here = hostname();
  const lines: HistoryRun[] = [];
  const points = new Map<string, readonly ReplicaPoint[]>();
  for (const run of runs) {
    const died = run.status === 'running' && run.hostname === here && run.pid !== null && !isProcessAlive(run.pid);
    // A run still going has no record yet: what its point copied so far.
    const live = run.endedAt === null ? await progressSoFar(store, run, points) : undefined;
    const backupId = run.backupId ?? live?.backupId ?? null;
    // Key order as `history --json` always printed it: the record's, then point and seconds.
    lines.push({
      ...run,
      backupId,
      status: died ? 'died' : run.status,
      taken: run.taken ?? live?.taken ?? kindNamed(run.kind)?.historyTaken ?? null,
      bytes: run.endedAt === null ? (live?.bytes ?? null) : run.bytes,
      point: backupId === null ? null : await pointFate(store, run, backupId, points),
      // A skipped run never started: its reason (in error) says why, a duration would mislead.
      seconds: run.status === 'skipped' ? null : duration(run.startedAt, run.endedAt),
    });
  }
  return lines;
}

interface Progress {
  readonly backupId?: string;
  readonly taken?: string;
  readonly bytes: number | null;
}

// A running backup's or sync's point: its kind and the bytes its disks copied so far.
async function progressSoFar(
  store: Store,
  run: Run,
  points: Map<string, readonly ReplicaPoint[]>,
): Promise<Progress | undefined> {
  if (kindNamed(run.kind)?.pointsOn === 'replica') {
    const point = (await replicaPoints(store, run.plan, points)).find((candidate) => candidate.runId === run.id);
    return point && { backupId: point.id, taken: point.type, bytes: sum(point.disks.map((disk) => disk.bytes)) };
  }
  const backup: Backup | undefined = run.backupId ? await store.getBackup(run.backupId) : undefined;
  return backup && { taken: backup.type, bytes: backup.bytes ?? sum(backup.disks.map((disk) => disk.bytes)) };
}

// What became of the run's point since, a fact apart from its record: its state now, or merged
// into a later point (followed to the one that holds its data now), or removed.
async function pointFate(
  store: Store,
  run: Run,
  backupId: string,
  points: Map<string, readonly ReplicaPoint[]>,
): Promise<PointFate> {
  if (kindNamed(run.kind)?.pointsOn === 'replica') {
    const point = (await replicaPoints(store, run.plan, points)).find((candidate) => candidate.id === backupId);
    return { state: point?.status ?? 'gone' };
  }
  const backup = await store.getBackup(backupId);
  if (backup !== undefined) return { state: backup.damage === null ? backup.status : 'damaged' };
  let [dropped] = await store.droppedPoints([backupId]);
  if (dropped === undefined) return { state: 'gone' };
  let into = dropped.mergedInto;
  while (into !== null && (dropped = (await store.droppedPoints([into]))[0]) !== undefined) into = dropped.mergedInto;
  return into === null ? { state: 'removed' } : { state: 'merged', mergedInto: into };
}

async function replicaPoints(
  store: Store,
  plan: string,
  points: Map<string, readonly ReplicaPoint[]>,
): Promise<readonly ReplicaPoint[]> {
  if (!points.has(plan)) points.set(plan, await store.listReplicaPoints({ plan }));
  return points.get(plan)!;
}

// What disks copied so far, of those that say (a point not complete has no total yet).
function sum(values: readonly (number | null)[]): number | null {
  const known = values.filter((value): value is number => value !== null);
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0);
}

function duration(start: string, end: string | null): number | null {
  return end === null ? null : (Date.parse(end) - Date.parse(start)) / 1000;
}
