// One backup run per VM at a time, across processes: the check and the claim happen in one
// BEGIN IMMEDIATE transaction; a lock whose run ended or whose process died is taken over.

import os from 'node:os';
import type { Kysely } from 'kysely';
import { SendenseError } from '../errors.js';
import { isProcessAlive, processStartTicks } from '../qemu/process-identity.js';
import { nowIso } from './new-id.js';
import type { VmLock } from './records.js';
import type { StoreDatabase } from './schema.js';

type Db = Kysely<StoreDatabase>;

export async function lockVm(db: Db, vm: string, runId: string, plan: string): Promise<void> {
  const hostname = os.hostname();
  const pid = process.pid;
  await db.transaction().execute(async (trx) => {
    const held = await trx
      .selectFrom('vm_locks')
      .leftJoin('runs', 'runs.id', 'vm_locks.run_id')
      .selectAll('vm_locks')
      .select('runs.status as run_status')
      .where('vm', '=', vm)
      .executeTakeFirst();
    if (held && held.run_id !== runId) {
      const alive = held.run_status === 'running' && (held.hostname !== hostname || isProcessAlive(held.pid, held.start_ticks));
      if (alive) {
        throw new SendenseError(
          `VM ${vm} is being backed up by run ${held.run_id} of plan ${held.plan} (pid ${held.pid} on ${held.hostname}, since ${held.since}); ` +
            'two backups of one VM at once would disturb each other',
        );
      }
      await trx.deleteFrom('vm_locks').where('vm', '=', vm).execute();
    }
    await trx
      .insertInto('vm_locks')
      .values({ vm, run_id: runId, plan, pid, hostname, start_ticks: processStartTicks(pid) ?? null, since: nowIso() })
      .onConflict((oc) => oc.column('vm').doNothing())
      .execute();
  });
}

export async function unlockVm(db: Db, vm: string, runId: string): Promise<void> {
  await db.deleteFrom('vm_locks').where('vm', '=', vm).where('run_id', '=', runId).execute();
}

export async function listVmLocks(db: Db): Promise<readonly VmLock[]> {
  const rows = await db.selectFrom('vm_locks').selectAll().orderBy('since').orderBy('vm').execute();
  return Object.freeze(rows.map((row) => Object.freeze({ vm: row.vm, runId: row.run_id, plan: row.plan, pid: row.pid, hostname: row.hostname, since: row.since })));
}
