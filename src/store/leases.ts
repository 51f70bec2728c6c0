// NBD port leases, safe across processes: a lease is a row keyed by its port, claimed by an insert
// that a concurrent claim of the same port makes a no-op; the claim is then checked (compare and
// set), and a lost race gives back what it got and chooses again. The whole read-probe-claim
// also runs serialized (SQLite's BEGIN IMMEDIATE, an advisory lock on PostgreSQL).

import type { Kysely, Selectable } from 'kysely';
import { SendenseError } from '../errors.js';
import { processStartTicks } from '../process/process-identity.js';
import { serialize } from './dialect.js';
import { holderLiveness, type IsHolderAlive, type StoreSelf } from './hub-liveness.js';
import { nowIso } from './new-id.js';
import { isPortFree } from './port-probe.js';
import type { PortLease } from './records.js';
import type { PortLeasesTable, StoreDatabase } from './schema.js';
import type { LeaseRequest, LeaseResult, ReclaimedLease } from './store.js';

type Db = Kysely<StoreDatabase>;

function toLease(row: Selectable<PortLeasesTable>): PortLease {
  return Object.freeze({
    port: row.port,
    runId: row.run_id,
    pid: row.pid,
    hostname: row.hostname,
    since: row.since,
    hub: row.hub ?? null,
  });
}

function validateRequest(request: LeaseRequest): void {
  const { first, last, count } = request;
  if (!Number.isInteger(first) || !Number.isInteger(last) || first < 1 || last > 65535 || first > last) {
    throw new Error(`leasePorts: bad port range ${first}-${last}`);
  }
  if (!Number.isInteger(count) || count < 1) throw new Error(`leasePorts: bad count ${count}`);
}

type LeaseRow = Selectable<PortLeasesTable> & { run_status: string | null };

// A lease is stale when its run has ended (a run that ended needs no port), or when its process
// is gone: on this host by PID (a PID now belonging to another process counts as gone), on
// another hub by its heartbeat (hub-liveness.ts).
function staleReason(row: LeaseRow, isAlive: IsHolderAlive): ReclaimedLease['reason'] | undefined {
  if (row.run_status !== 'running') return 'run-ended';
  if (!isAlive(row)) return 'process-gone';
  return undefined;
}

export async function leasePorts(db: Db, self: StoreSelf, request: LeaseRequest): Promise<LeaseResult> {
  validateRequest(request);
  const { count, first, last } = request;
  const isFree = request.isFree ?? isPortFree;
  const pid = request.pid ?? self.pid;
  const startTicks = processStartTicks(pid) ?? null;

  for (let attempt = 1; ; attempt++) {
    const outcome = await claimPorts(db, request, { isFree, pid, self, startTicks });
    if (outcome.ok === 'lost-race' && attempt < MAX_CLAIMS) continue;
    if (outcome.ok === 'lost-race')
      throw new SendenseError(
        `could not lease NBD ports in ${first}-${last}: other runs claimed them ${MAX_CLAIMS} times in a row`,
      );
    if (!outcome.ok) {
      throw new SendenseError(
        `no free NBD port in ${first}-${last}: need ${count}, ${outcome.leased} leased by other runs, ` +
          `${outcome.busy.length} in use by other programs`,
      );
    }
    return Object.freeze({
      ports: Object.freeze(outcome.ports),
      reclaimed: outcome.reclaimed,
      busy: Object.freeze(outcome.busy),
    });
  }
}

// How many times a run chooses again after losing a race for a port.
const MAX_CLAIMS = 5;

interface Claimant {
  readonly isFree: (port: number) => Promise<boolean>;
  readonly pid: number;
  readonly self: StoreSelf;
  readonly startTicks: number | null;
}

// One attempt: reclaim stale leases, choose the lowest free ports, claim them.
async function claimPorts(db: Db, request: LeaseRequest, { isFree, pid, self, startTicks }: Claimant) {
  const { runId, count, first, last } = request;
  const { hostname, hub } = self;
  return db.transaction().execute(async (trx) => {
    await serialize(trx, 'port_leases');
    const rows = await leaseRows(trx, first, last);
    const isAlive = await holderLiveness(trx, self);
    const stale = rows.filter((row) => staleReason(row, isAlive) !== undefined);
    if (stale.length > 0) {
      await trx
        .deleteFrom('port_leases')
        .where(
          'port',
          'in',
          stale.map((row) => row.port),
        )
        .execute();
    }
    const leased = new Set(rows.filter((row) => !stale.includes(row)).map((row) => row.port));
    const { ports, busy } = await choosePorts(leased, request, isFree);
    const reclaimed = Object.freeze(
      stale.map((row): ReclaimedLease => Object.freeze({ ...toLease(row), reason: staleReason(row, isAlive)! })),
    );
    // Out of ports: keep the reclaim (committed) but claim nothing.
    if (ports.length < count) return { ok: false as const, leased: leased.size, busy, reclaimed };
    const since = nowIso();
    await trx
      .insertInto('port_leases')
      .values(ports.map((port) => ({ port, run_id: runId, pid, hostname, hub, since, start_ticks: startTicks })))
      .onConflict((oc) => oc.column('port').doNothing())
      .execute();
    const ours = await trx
      .selectFrom('port_leases')
      .select('port')
      .where('run_id', '=', runId)
      .where('port', 'in', ports)
      .execute();
    if (ours.length < ports.length) {
      // Another run claimed one of these ports first: give back this attempt's and choose again.
      await trx.deleteFrom('port_leases').where('run_id', '=', runId).where('port', 'in', ports).execute();
      return { ok: 'lost-race' as const };
    }
    return { ok: true as const, ports, busy, reclaimed };
  });
}

// The ports leasePorts would take now, taking nothing (--dry-run): the same rows, the same choice.
export async function leasablePorts(
  db: Db,
  self: StoreSelf,
  request: Omit<LeaseRequest, 'runId'>,
): Promise<readonly number[]> {
  validateRequest({ ...request, runId: '' });
  const rows = await leaseRows(db, request.first, request.last);
  const isAlive = await holderLiveness(db, self);
  const leased = new Set(rows.filter((row) => staleReason(row, isAlive) === undefined).map((row) => row.port));
  return Object.freeze((await choosePorts(leased, request, request.isFree ?? isPortFree)).ports);
}

// Leases in the range, with the status of the run holding each.
function leaseRows(db: Db, first: number, last: number): Promise<LeaseRow[]> {
  return db
    .selectFrom('port_leases')
    .leftJoin('runs', 'runs.id', 'port_leases.run_id')
    .selectAll('port_leases')
    .select('runs.status as run_status')
    .where('port', '>=', first)
    .where('port', '<=', last)
    .orderBy('port')
    .execute();
}

// The lowest ports of the range no run holds and no other program listens on.
async function choosePorts(
  leased: ReadonlySet<number>,
  { first, last, count }: Pick<LeaseRequest, 'first' | 'last' | 'count'>,
  isFree: (port: number) => Promise<boolean>,
): Promise<{ ports: number[]; busy: number[] }> {
  const ports: number[] = [];
  const busy: number[] = [];
  for (let port = first; port <= last && ports.length < count; port++) {
    if (leased.has(port)) continue;
    if (await isFree(port)) ports.push(port);
    else busy.push(port);
  }
  return { ports, busy };
}

export async function releasePorts(db: Db, runId: string): Promise<number> {
  const result = await db.deleteFrom('port_leases').where('run_id', '=', runId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export async function releasePort(db: Db, port: number): Promise<void> {
  await db.deleteFrom('port_leases').where('port', '=', port).execute();
}

export async function listLeases(db: Db): Promise<readonly PortLease[]> {
  const rows = await db.selectFrom('port_leases').selectAll().orderBy('port').execute();
  return Object.freeze(rows.map(toLease));
}
