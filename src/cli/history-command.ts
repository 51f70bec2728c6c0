// `sendense-run history [--plan NAME] [--limit N]`: past runs, newest first — when, which plan,
// the kind of backup taken, status (a run whose process is gone shows as died), duration, bytes as
// the run recorded them when it ended, and apart what became of its point (docs/commands.md#history).

import { hostname } from 'node:os';
import { usageError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { formatDuration } from '../format/duration.js';
import { formatLocalTime } from '../format/local-time.js';
import { formatTable } from '../format/table.js';
import { kindNamed } from '../kinds/index.js';
import { isProcessAlive } from '../process/index.js';
import type { Backup, ReplicaPoint, Run, Store } from '../store/index.js';
import { defineCommand, type CommandSpec, USAGE_ERROR } from './command.js';
import { declareOptions, rejectOperands, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, shapedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';

export interface HistoryRow {
  readonly run: Run;
  /** full or incremental when the run made a backup record; restore for restores, copy for copies; else none. */
  readonly taken: string | null;
  readonly bytes: number | null;
  /** What became of its point since (a merge, a removal), apart from what the run recorded; null: no point. */
  readonly point: PointFate | null;
  readonly seconds: number | null;
  /** The stored status, or died for a run still `running` whose process is gone from this host. */
  readonly status: string;
}

export interface PointFate {
  /** The point's status now (complete, damaged, failed…), or merged, removed, gone (removed before fates were kept). */
  readonly state: string;
  /** merged: the point that holds its data now. */
  readonly mergedInto?: string;
}

const OPTIONS = declareOptions([
  { name: '--plan', value: 'NAME', help: 'only this plan' },
  { name: '--limit', value: 'N', help: 'at most N runs (default 50)' },
]);

type HistoryLine = Omit<Run, 'status' | 'taken' | 'bytes'> & Omit<HistoryRow, 'run'>;

const JSON_OUTPUT: JsonOutput = {
  intro: 'One object per run, newest first.',
  lines: shapedLines<{ 'a run': HistoryLine }>({
    'a run': {
      when: 'a run',
      fields: {
        id: '',
        plan: '',
        kind: "the plan's",
        trigger: '`manual`, `schedule`, `api`',
        status:
          '`running`, `succeeded`, `failed`, `interrupted`, `skipped`, or `died`: left `running` by a process that is gone from this host',
        startedAt: '',
        endedAt: '',
        seconds: 'null while running and for skipped runs',
        error: '',
        pid: '',
        hostname: '',
        planFile: '',
        backupId: 'the backup the run made, the replica point a sync made, or the backup a restore read',
        taken: '`full`, `incremental`, `restore`, `copy`, or null when no backup was started',
        bytes: 'copied, null when not known',
        point:
          'what became of that backup since, null without one: `{ "state" }` with its status now (`complete`, `damaged`, `failed`, …), `removed` (retention removed it), `gone` (removed before sendense-run recorded what became of points), or `{ "state": "merged", "mergedInto": ID }`: a retention merge folded it into that point, which holds its data now',
        queuedSeconds: "how long it waited for the hub's disk slots; null when it did not wait",
        vmWaitSeconds:
          "how long it waited for its VM while another plan's run held it ([busy VMs](how-it-works.md#busy-vms)); null when it did not wait",
        hub: 'the hub that ran it: its hub config `name`, else the host name',
        fire: 'with a shared schedule on PostgreSQL: `PLAN@TIME`, the scheduled fire it belongs to; else null',
        actor: 'a run the API started: the name of the token that started it; else null',
        note: 'what the run adds besides its status and error, e.g. a verify\'s "damage cleared: IDS"; else null',
      },
    },
  }),
  after:
    '`backupId`, `taken` and `bytes` are recorded once as the run ends (a run still going: its progress so far) and no later merge changes them.',
};

export const historyCommand: CommandSpec = defineCommand({
  name: 'history',
  usage: 'sendense-run history [--plan NAME] [--limit N]',
  does: "Past runs, newest first: start time, plan, kind taken, trigger, status, duration, bytes, backup, point, errors. A run's kind taken, bytes and backup are recorded once as it ends and never change; POINT says what became of that backup since, apart: its state now (complete, damaged…), merged into ID (a retention merge: its data lives on in that point), removed, or gone (removed before this was recorded).",
  options: OPTIONS,
  exitCodes: [{ code: 0, when: 'listed (also when there is no state database yet: it says so)' }, USAGE_ERROR],
  json: JSON_OUTPUT,
  run: runHistory,
});

async function runHistory(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  rejectOperands(given.operands, 'history');
  const plan = given.value('--plan');
  const limit = given.value('--limit');
  const count = limit === undefined ? 50 : Number(limit);
  if (!Number.isInteger(count) || count < 1)
    throw usageError(`--limit must be a positive whole number (got '${limit}')`);
  return withExistingStore(cli, async (store) => {
    const rows = await historyRows(store, { plan, limit: count });
    if (cli.json) {
      for (const row of rows)
        printJson<HistoryLine>(cli, {
          ...row.run,
          status: row.status,
          taken: row.taken,
          bytes: row.bytes,
          point: row.point,
          seconds: row.seconds,
        });
      return 0;
    }
    if (rows.length === 0) {
      cli.stdout.write(plan ? `no runs of plan ${plan}\n` : 'no runs yet\n');
      return 0;
    }
    for (const line of historyTable(rows, showHubs(store, rows))) cli.stdout.write(`${line}\n`);
    return 0;
  });
}

export async function historyRows(store: Store, filter: { plan?: string; limit?: number }): Promise<HistoryRow[]> {
  const runs = await store.listRuns(filter);
  const here = hostname();
  const rows: HistoryRow[] = [];
  const points = new Map<string, readonly ReplicaPoint[]>();
  for (const run of runs) {
    const died = run.status === 'running' && run.hostname === here && run.pid !== null && !isProcessAlive(run.pid);
    // A run still going has no record yet: what its point copied so far.
    const live = run.endedAt === null ? await progressSoFar(store, run, points) : undefined;
    const backupId = run.backupId ?? live?.backupId ?? null;
    rows.push({
      run: backupId === run.backupId ? run : { ...run, backupId },
      taken: run.taken ?? live?.taken ?? kindNamed(run.kind)?.historyTaken ?? null,
      bytes: run.endedAt === null ? (live?.bytes ?? null) : run.bytes,
      point: backupId === null ? null : await pointFate(store, run, backupId, points),
      // A skipped run never started: its reason (in error) says why, a duration would mislead.
      seconds: run.status === 'skipped' ? null : duration(run.startedAt, run.endedAt),
      status: died ? 'died' : run.status,
    });
  }
  return rows;
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

// Which hub ran what matters once several hubs share the state (PostgreSQL) or one is named.
function showHubs(store: Store, rows: readonly HistoryRow[]): boolean {
  return store.sharedByHubs || rows.some(({ run }) => run.hub !== null && run.hub !== run.hostname);
}

// The header, one line per run, and the error and note of a run under it, indented.
function historyTable(rows: readonly HistoryRow[], hubs: boolean): string[] {
  const hubColumn = hubs ? [{ header: 'HUB' }] : [];
  const table = formatTable(
    [
      { header: 'STARTED' },
      { header: 'PLAN' },
      { header: 'KIND' },
      { header: 'TRIGGER' },
      { header: 'STATUS' },
      ...hubColumn,
      { header: 'DURATION', align: 'right' },
      { header: 'BYTES', align: 'right' },
      { header: 'BACKUP' },
      { header: 'POINT' },
      { header: 'RUN' },
    ],
    rows.map(({ run, taken, bytes, point, seconds, status }) => [
      formatLocalTime(run.startedAt),
      run.plan,
      taken ?? '-',
      run.actor ? `${run.trigger}:${run.actor}` : run.trigger,
      status,
      ...(hubs ? [run.hub ?? run.hostname ?? '-'] : []),
      seconds === null ? '-' : formatDuration(seconds),
      bytes === null ? '-' : formatBytes(bytes),
      run.backupId ?? '-',
      point === null ? '-' : point.mergedInto === undefined ? point.state : `merged into ${point.mergedInto}`,
      run.id,
    ]),
  );
  const lines = [table[0]];
  rows.forEach((row, i) => {
    lines.push(table[i + 1]);
    if (row.run.vmWaitSeconds !== null)
      lines.push(
        `    waited ${formatDuration(row.run.vmWaitSeconds)} for its VM (another plan's run held it; busy.wait)`,
      );
    if (row.run.queuedSeconds !== null)
      lines.push(`    queued ${formatDuration(row.run.queuedSeconds)} for the hub's disk slots`);
    if (row.run.error) lines.push(`    ${row.status === 'skipped' ? 'skipped' : 'error'}: ${row.run.error}`);
    if (row.run.note) lines.push(`    note: ${row.run.note}`);
  });
  return lines;
}

// What disks copied so far, of those that say (a point not complete has no total yet).
function sum(values: readonly (number | null)[]): number | null {
  const known = values.filter((value): value is number => value !== null);
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0);
}

function duration(start: string, end: string | null): number | null {
  return end === null ? null : (Date.parse(end) - Date.parse(start)) / 1000;
}
