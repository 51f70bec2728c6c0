// Hub-wide disk slots, safe across processes: each try to take slots is one serialized
// transaction (BEGIN IMMEDIATE on SQLite, an advisory lock per hub on PostgreSQL). Waiting runs are served in queue order (queued_at, then run id): only the first
// waiting run may take slots, so none is starved; it takes what is free (at least one).
// A row whose run ended or whose process on this host is gone is removed on the next try.

import type { Kysely, Selectable } from 'kysely';
import { processStartTicks } from '../process/process-identity.js';
import { serialize } from './dialect.js';
import { holderLiveness, type IsHolderAlive, type StoreSelf } from './hub-liveness.js';
import { nowIso } from './new-id.js';
import type { DiskSlot } from './records.js';
import type { DiskSlotsTable, StoreDatabase } from './schema.js';
import type { SlotRequest, SlotTry } from './store.js';

type Db = Kysely<StoreDatabase>;
type SlotRow = Selectable<DiskSlotsTable> & { run_status: string | null };

function toSlot(row: Selectable<DiskSlotsTable>): DiskSlot {
  return Object.freeze({
    runId: row.run_id,
    plan: row.plan,
    wanted: row.wanted,
    granted: row.granted,
    queuedAt: row.queued_at,
    grantedAt: row.granted_at,
    pid: row.pid,
    hostname: row.hostname,
    hub: row.hub ?? null,
  });
}

function isStale(row: SlotRow, isAlive: IsHolderAlive): boolean {
  return row.run_status !== 'running' || !isAlive(row);
}

// Joins the queue (first call) and takes slots when this run is first in line and some are free.
// The slots are the hub's: rows of other hubs sharing the database neither count nor queue.
export async function tryTakeSlots(db: Db, self: StoreSelf, request: SlotRequest): Promise<SlotTry> {
  const { hostname, hub } = self;
  const pid = request.pid ?? self.pid;
  return db.transaction().execute(async (trx) => {
    await serialize(trx, `disk_slots:${hub}`);
    const rows: SlotRow[] = await trx
      .selectFrom('disk_slots')
      .leftJoin('runs', 'runs.id', 'disk_slots.run_id')
      .selectAll('disk_slots')
      .select('runs.status as run_status')
      .where((eb) => eb.or([eb('disk_slots.hub', '=', hub), eb('disk_slots.hub', 'is', null)]))
      .execute();
    const isAlive = await holderLiveness(trx, self);
    const stale = rows.filter((row) => row.run_id !== request.runId && isStale(row, isAlive));
    if (stale.length > 0)
      await trx
        .deleteFrom('disk_slots')
        .where(
          'run_id',
          'in',
          stale.map((row) => row.run_id),
        )
        .execute();
    const live = rows.filter((row) => !stale.includes(row));
    let mine = live.find((row) => row.run_id === request.runId);
    if (mine === undefined) {
      mine = {
        run_id: request.runId,
        plan: request.plan,
        wanted: request.wanted,
        granted: 0,
        queued_at: request.queuedAt ?? nowIso(),
        granted_at: null,
        pid,
        hostname,
        hub,
        start_ticks: processStartTicks(pid) ?? null,
        run_status: 'running',
      };
      const { run_status: _, ...row } = mine;
      await trx.insertInto('disk_slots').values(row).execute();
      live.push(mine);
    }
    const held = live.reduce((sum, row) => sum + row.granted, 0);
    const waiting = live.filter((row) => row.granted === 0).sort(queueOrder);
    const free = request.limit - held;
    if (mine.granted > 0) return { granted: mine.granted, ahead: 0, held };
    const ahead = waiting.indexOf(mine);
    if (ahead > 0 || free < 1) return { granted: 0, ahead: Math.max(0, ahead), held };
    const granted = Math.min(mine.wanted, free);
    await trx
      .updateTable('disk_slots')
      .set({ granted, granted_at: nowIso() })
      .where('run_id', '=', request.runId)
      .execute();
    return { granted, ahead: 0, held: held + granted };
  });
}

function queueOrder(a: Selectable<DiskSlotsTable>, b: Selectable<DiskSlotsTable>): number {
  return a.queued_at < b.queued_at
    ? -1
    : a.queued_at > b.queued_at
      ? 1
      : a.run_id < b.run_id
        ? -1
        : a.run_id > b.run_id
          ? 1
          : 0;
}

export async function releaseSlots(db: Db, runId: string): Promise<void> {
  await db.deleteFrom('disk_slots').where('run_id', '=', runId).execute();
}

export async function listSlots(db: Db): Promise<readonly DiskSlot[]> {
  const rows = await db.selectFrom('disk_slots').selectAll().orderBy('queued_at').orderBy('run_id').execute();
  return Object.freeze(rows.map(toSlot));
}

export async function recordQueued(db: Db, runId: string, seconds: number): Promise<void> {
  await db.updateTable('runs').set({ queued_seconds: seconds }).where('id', '=', runId).execute();
}
