// Processes a run started (qemu-nbd, ...), so `doctor` can find what a killed run left behind
// by PID and start time, never by name.

import type { Kysely, Selectable } from 'kysely';
import { processStartTicks } from '../process/process-identity.js';
import { nowIso } from './new-id.js';
import type { ProcessRecord } from './records.js';
import type { ProcessesTable, StoreDatabase } from './schema.js';

type Db = Kysely<StoreDatabase>;

function toProcess(row: Selectable<ProcessesTable>): ProcessRecord {
  return Object.freeze({
    pid: row.pid,
    runId: row.run_id,
    kind: row.kind,
    argv: Object.freeze(JSON.parse(row.argv_json) as string[]),
    startedAt: row.started_at,
    startTicks: row.start_ticks,
  });
}

export async function recordProcess(
  db: Db,
  runId: string,
  pid: number,
  kind: string,
  argv: readonly string[],
  startTicks?: number,
): Promise<ProcessRecord> {
  const ticks = startTicks ?? processStartTicks(pid);
  if (ticks === undefined) throw new Error(`recordProcess: process ${pid} (${kind}) is not running`);
  const row = {
    pid,
    run_id: runId,
    kind,
    argv_json: JSON.stringify(argv),
    started_at: nowIso(),
    start_ticks: ticks,
  };
  await db.insertInto('processes').values(row).execute();
  return toProcess(row);
}

export async function forgetProcess(db: Db, pid: number, startTicks?: number): Promise<void> {
  let query = db.deleteFrom('processes').where('pid', '=', pid);
  if (startTicks !== undefined) query = query.where('start_ticks', '=', startTicks);
  await query.execute();
}

export async function allProcesses(db: Db): Promise<readonly ProcessRecord[]> {
  const rows = await db.selectFrom('processes').selectAll().orderBy('started_at').execute();
  return Object.freeze(rows.map(toProcess));
}
