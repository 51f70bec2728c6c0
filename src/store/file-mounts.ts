// Mounts made by `sendense-run mount`: the FUSE server (the libguestfs agent) and the command
// that owns it, each by PID and start time, so doctor can tell a live mount from a stale one.

import type { Kysely, Selectable } from 'kysely';
import { hostname } from 'node:os';
import { processStartTicks } from '../process/process-identity.js';
import { nowIso } from './new-id.js';
import type { FileMount } from './records.js';
import type { FileMountsTable, StoreDatabase } from './schema.js';

type Db = Kysely<StoreDatabase>;

export interface NewFileMount {
  readonly dir: string;
  readonly vm: string;
  readonly backupId: string;
  readonly diskKey: number;
  readonly serverPid: number;
  /** Default: this process. */
  readonly ownerPid?: number;
}

function toMount(row: Selectable<FileMountsTable>): FileMount {
  return Object.freeze({
    dir: row.dir,
    vm: row.vm,
    backupId: row.backup_id,
    diskKey: row.disk_key,
    serverPid: row.server_pid,
    serverStartTicks: row.server_start_ticks,
    ownerPid: row.owner_pid,
    ownerStartTicks: row.owner_start_ticks,
    hostname: row.hostname,
    since: row.since,
  });
}

export async function recordFileMount(db: Db, mount: NewFileMount): Promise<FileMount> {
  const ownerPid = mount.ownerPid ?? process.pid;
  const serverTicks = processStartTicks(mount.serverPid);
  const ownerTicks = processStartTicks(ownerPid);
  if (serverTicks === undefined || ownerTicks === undefined)
    throw new Error(`recordFileMount: process ${mount.serverPid} or ${ownerPid} is not running`);
  const row = {
    dir: mount.dir,
    vm: mount.vm,
    backup_id: mount.backupId,
    disk_key: mount.diskKey,
    server_pid: mount.serverPid,
    server_start_ticks: serverTicks,
    owner_pid: ownerPid,
    owner_start_ticks: ownerTicks,
    hostname: hostname(),
    since: nowIso(),
  };
  // A record left for the same dir is stale by now (the dir was empty and free to mount on).
  await db
    .insertInto('file_mounts')
    .values(row)
    .onConflict((oc) => oc.column('dir').doUpdateSet(row))
    .execute();
  return toMount(row);
}

export async function forgetFileMount(db: Db, dir: string): Promise<void> {
  await db.deleteFrom('file_mounts').where('dir', '=', dir).execute();
}

export async function listFileMounts(db: Db): Promise<readonly FileMount[]> {
  const rows = await db.selectFrom('file_mounts').selectAll().orderBy('since').execute();
  return Object.freeze(rows.map(toMount));
}
