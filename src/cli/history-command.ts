// `sendense-run history [--plan NAME] [--limit N]`: past runs, newest first — when, which plan,
// the kind of backup taken, status (a run whose process is gone shows as died), duration, bytes.

import { hostname } from 'node:os';
import { usageError } from '../errors.js';
import { formatBytes } from '../format/bytes.js';
import { formatDuration } from '../format/duration.js';
import { formatLocalTime } from '../format/local-time.js';
import { formatTable } from '../format/table.js';
import { isProcessAlive } from '../process/index.js';
import type { Backup, ReplicaPoint, Run, Store } from '../store/index.js';
import { rejectLeftovers, takeOption } from './args.js';
import { type CommandSpec, USAGE_ERROR } from './command.js';
import type { CliContext } from './context.js';
import { withExistingStore } from './open-existing-store.js';

export interface HistoryRow {
  readonly run: Run;
  /** full or incremental when the run made a backup record; restore for restores, copy for copies; else none. */
  readonly taken: string | null;
  readonly bytes: number | null;
  readonly seconds: number | null;
  /** The stored status, or died for a run still `running` whose process is gone from this host. */
  readonly status: string;
}

export const historyCommand: CommandSpec = {
  name: 'history',
  usage: 'sendense-run history [--plan NAME] [--limit N]',
  does: 'Past runs, newest first: start time, plan, kind taken, trigger, status, duration, bytes, errors.',
  options: [
    { name: '--plan', value: 'NAME', help: 'only this plan' },
    { name: '--limit', value: 'N', help: 'at most N runs (default 50)' },
  ],
  exitCodes: [{ code: 0, when: 'listed (also when there is no state database yet: it says so)' }, USAGE_ERROR],
  run: runHistory,
};

async function runHistory(cli: CliContext, args: readonly string[]): Promise<number> {
  const plan = takeOption(args, '--plan');
  const limit = takeOption(plan.rest, '--limit');
  rejectLeftovers(limit.rest, historyCommand);
  const count = limit.value === undefined ? 50 : Number(limit.value);
  if (!Number.isInteger(count) || count < 1) throw usageError(`--limit must be a positive whole number (got '${limit.value}')`);
  return withExistingStore(cli, async (store) => {
    const rows = await historyRows(store, { plan: plan.value, limit: count });
    if (cli.json) {
      for (const row of rows) cli.stdout.write(`${JSON.stringify({ ...row.run, status: row.status, taken: row.taken, bytes: row.bytes, seconds: row.seconds })}\n`);
      return 0;
    }
    if (rows.length === 0) {
      cli.stdout.write(plan.value ? `no runs of plan ${plan.value}\n` : 'no runs yet\n');
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
    if (run.kind === 'replicate') {
      rows.push(await syncRow(store, run, points, here));
      continue;
    }
    const backup: Backup | undefined = run.backupId ? await store.getBackup(run.backupId) : undefined;
    const died = run.status === 'running' && run.hostname === here && run.pid !== null && !isProcessAlive(run.pid);
    rows.push({
      run,
      taken: backup?.type ?? (run.kind === 'restore' || run.kind === 'copy' ? run.kind : null),
      bytes: backup?.bytes ?? backupBytes(backup) ?? run.bytes,
      // A skipped run never started: its reason (in error) says why, a duration would mislead.
      seconds: run.status === 'skipped' ? null : duration(run.startedAt, run.endedAt),
      status: died ? 'died' : run.status,
    });
  }
  return rows;
}

// A replica's sync: the point it made (full or incremental) and the bytes it sent.
async function syncRow(store: Store, run: Run, points: Map<string, readonly ReplicaPoint[]>, here: string): Promise<HistoryRow> {
  if (!points.has(run.plan)) points.set(run.plan, await store.listReplicaPoints({ plan: run.plan }));
  const point = points.get(run.plan)!.find((candidate) => candidate.runId === run.id);
  const died = run.status === 'running' && run.hostname === here && run.pid !== null && !isProcessAlive(run.pid);
  const copied = point?.disks.flatMap((disk) => (disk.bytes === null ? [] : [disk.bytes])) ?? [];
  return {
    run: point === undefined ? run : { ...run, backupId: point.id },
    taken: point?.type ?? null,
    bytes: point?.bytes ?? (copied.length === 0 ? null : copied.reduce((a, b) => a + b, 0)),
    seconds: run.status === 'skipped' ? null : duration(run.startedAt, run.endedAt),
    status: died ? 'died' : run.status,
  };
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
      { header: 'RUN' },
    ],
    rows.map(({ run, taken, bytes, seconds, status }) => [
      formatLocalTime(run.startedAt),
      run.plan,
      taken ?? '-',
      run.trigger,
      status,
      ...(hubs ? [run.hub ?? run.hostname ?? '-'] : []),
      seconds === null ? '-' : formatDuration(seconds),
      bytes === null ? '-' : formatBytes(bytes),
      run.backupId ?? '-',
      run.id,
    ]),
  );
  const lines = [table[0]];
  rows.forEach((row, i) => {
    lines.push(table[i + 1]);
    if (row.run.queuedSeconds !== null) lines.push(`    queued ${formatDuration(row.run.queuedSeconds)} for the hub's disk slots`);
    if (row.run.error) lines.push(`    ${row.status === 'skipped' ? 'skipped' : 'error'}: ${row.run.error}`);
    if (row.run.note) lines.push(`    note: ${row.run.note}`);
  });
  return lines;
}

// A backup that is not complete has no total yet: what its disks copied so far, if anything.
function backupBytes(backup: Backup | undefined): number | null {
  const copied = backup?.disks.map((disk) => disk.bytes).filter((bytes): bytes is number => bytes !== null) ?? [];
  return copied.length === 0 ? null : copied.reduce((a, b) => a + b, 0);
}

function duration(start: string, end: string | null): number | null {
  return end === null ? null : (Date.parse(end) - Date.parse(start)) / 1000;
}
