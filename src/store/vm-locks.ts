// One backup run per VM at a time, across processes: the lock is a row, taken by compare-and-set
// (a dead holder's row is deleted only if it is still that holder's, the claim is an insert that
// a concurrent claim makes a no-op, and whoever's row is there afterwards holds it), so it holds
// on any database, not only inside SQLite's BEGIN IMMEDIATE transaction that also wraps it.

import type { Kysely } from 'kysely';
import { SendenseError } from '../errors.js';
import { processStartTicks } from '../process/process-identity.js';
import { serialize } from './dialect.js';
import { holderLiveness, type StoreSelf } from './hub-liveness.js';
import { nowIso } from './new-id.js';
import type { VmLock } from './records.js';
import type { StoreDatabase } from './schema.js';

type Db = Kysely<StoreDatabase>;

export async function lockVm(db: Db, self: StoreSelf, vm: string, runId: string, plan: string): Promise<void> {
  const { hostname, pid, hub } = self;
  await db.transaction().execute(async (trx) => {
    await serialize(trx, 'vm_locks');
    const held = await trx
      .selectFrom('vm_locks')
      .leftJoin('runs', 'runs.id', 'vm_locks.run_id')
      .selectAll('vm_locks')
      .select(['runs.status as run_status', 'runs.kind as run_kind'])
      .where('vm', '=', vm)
      .executeTakeFirst();
    if (held && held.run_id !== runId) {
      const alive = held.run_status === 'running' && (await holderLiveness(trx, self))(held);
      if (alive) throw busyError(vm, held);
      await trx.deleteFrom('vm_locks').where('vm', '=', vm).where('run_id', '=', held.run_id).execute();
    }
    await trx
      .insertInto('vm_locks')
      .values({
        vm,
        run_id: runId,
        plan,
        pid,
        hostname,
        hub,
        start_ticks: processStartTicks(pid) ?? null,
        since: nowIso(),
      })
      .onConflict((oc) => oc.column('vm').doNothing())
      .execute();
    const holder = await trx
      .selectFrom('vm_locks')
      .leftJoin('runs', 'runs.id', 'vm_locks.run_id')
      .select([
        'vm_locks.run_id',
        'vm_locks.plan',
        'vm_locks.pid',
        'vm_locks.hostname',
        'vm_locks.hub',
        'vm_locks.since',
        'runs.kind as run_kind',
      ])
      .where('vm', '=', vm)
      .executeTakeFirst();
    // Another run's claim got there first: it holds the lock.
    if (holder !== undefined && holder.run_id !== runId) throw busyError(vm, holder);
  });
}

interface LockHolder {
  readonly run_id: string;
  readonly plan: string;
  readonly pid: number;
  readonly hostname: string;
  readonly hub: string | null;
  readonly since: string;
  /** The holding run's kind; null when its run record is gone. */
  readonly run_kind: string | null;
}

// What the holder is doing to the VM, by its run's kind.
const DOING: Readonly<Record<string, string>> = {
  backup: 'being backed up',
  incremental: 'being backed up',
  restore: 'being restored',
  verify: 'being verified',
  prune: 'being pruned',
  forget: 'having points forgotten',
  retire: 'having a plan retired',
  copy: 'being copied',
};

function busyError(vm: string, holder: LockHolder): SendenseError {
  const hub = holder.hub !== null && holder.hub !== holder.hostname ? `hub ${holder.hub}, ` : '';
  const doing = DOING[holder.run_kind ?? ''];
  const kind = doing === undefined && holder.run_kind !== null ? `${holder.run_kind} ` : '';
  return new SendenseError(
    `VM ${vm} is ${doing ?? 'locked'} by ${kind}run ${holder.run_id} of plan ${holder.plan} (${hub}pid ${holder.pid} on ${holder.hostname}, since ${holder.since}); ` +
      'two runs on one VM at once would disturb each other: try again when it ends',
    { refusedStart: true },
  );
}

export async function unlockVm(db: Db, vm: string, runId: string): Promise<void> {
  await db.deleteFrom('vm_locks').where('vm', '=', vm).where('run_id', '=', runId).execute();
}

export async function listVmLocks(db: Db): Promise<readonly VmLock[]> {
  const rows = await db.selectFrom('vm_locks').selectAll().orderBy('since').orderBy('vm').execute();
  return Object.freeze(
    rows.map((row) =>
      Object.freeze({
        vm: row.vm,
        runId: row.run_id,
        plan: row.plan,
        pid: row.pid,
        hostname: row.hostname,
        hub: row.hub ?? null,
        since: row.since,
      }),
    ),
  );
}
