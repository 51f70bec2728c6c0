// Whether the process holding a row (a run, port lease, VM lock or disk slot) is still alive.
// On this host: its PID and start ticks (src/process). On PostgreSQL another hub's holder is
// judged by its heartbeat in hub_processes instead — a PID means nothing on another host — and
// counts as dead once it has not beaten for `deadAfterMs` (docs/how-it-works.md#scale). Beats are stamped
// and aged by the database's clock, not each hub's: hubs on other hosts may disagree about the
// time by more than the bound, and a live hub whose clock runs behind must not look dead (its VM
// locks freed, the same VM backed up twice at once).

import os from 'node:os';
import type { Kysely, RawBuilder } from 'kysely';
import { SendenseError } from '../errors.js';
import { isProcessAlive } from '../process/process-identity.js';
import { dialectOf } from './dialect.js';
import { nowIso } from './new-id.js';
import type { StoreDatabase } from './schema.js';

/** This process as the rows it writes name it. */
export interface StoreSelf {
  readonly hub: string;
  readonly hostname: string;
  readonly pid: number;
  /** How often this process beats (PostgreSQL only). */
  readonly beatMs: number;
  /** A holder on another hub that has not beaten for this long is dead. */
  readonly deadAfterMs: number;
}

export interface Holder {
  readonly hub: string | null;
  readonly hostname: string | null;
  readonly pid: number | null;
  readonly start_ticks?: number | null;
}

export type IsHolderAlive = (holder: Holder) => boolean;

// Default: 5 s beats, dead after 6 missed ones (30 s). $SENDENSE_HEARTBEAT_SECONDS shortens it (tests).
export function defaultSelf(hub: string = os.hostname(), env: NodeJS.ProcessEnv = process.env): StoreSelf {
  const text = env.SENDENSE_HEARTBEAT_SECONDS;
  const seconds = text === undefined || text === '' ? 5 : Number(text);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new SendenseError(
      `SENDENSE_HEARTBEAT_SECONDS must be a number of seconds above 0, at most 3600 (got ${JSON.stringify(text)})`,
      { exitCode: 2 },
    );
  }
  return Object.freeze({
    hub,
    hostname: os.hostname(),
    pid: process.pid,
    beatMs: seconds * 1000,
    deadAfterMs: seconds * 6000,
  });
}

// A checker for the rows read in one transaction (heartbeats are read once).
export async function holderLiveness(db: Kysely<StoreDatabase>, self: StoreSelf): Promise<IsHolderAlive> {
  if (!dialectOf(db).sharedByHubs) {
    // One SQLite file is one host: a holder on another host cannot be checked and stays.
    return (holder) =>
      holder.hostname !== self.hostname || isProcessAlive(holder.pid ?? -1, holder.start_ticks ?? undefined);
  }
  const beats = await db
    .selectFrom('hub_processes')
    .select(['hub', 'hostname', 'pid'])
    .where('beat_at', '>=', databaseTimeIso(db, self.deadAfterMs))
    .execute();
  const beating = new Set(beats.map((row) => key(row.hub, row.hostname, row.pid)));
  return (holder) => {
    if (holder.hub === self.hub && holder.hostname === self.hostname)
      return isProcessAlive(holder.pid ?? -1, holder.start_ticks ?? undefined);
    return beating.has(key(holder.hub ?? holder.hostname ?? '', holder.hostname ?? '', holder.pid ?? -1));
  };
}

// The time deltaMs ago in the text form beat_at holds (toISOString's, which orders as text). On
// PostgreSQL the database server's clock: one clock for every hub.
export function databaseTimeIso(db: Kysely<StoreDatabase>, deltaMs = 0): string | RawBuilder<string> {
  return dialectOf(db).timeAgo(deltaMs);
}

function key(hub: string, hostname: string, pid: number): string {
  return JSON.stringify([hub, hostname, pid]);
}

export interface Heartbeat {
  beat(): Promise<void>;
  /**
   * Aborted while this process has not written a beat for half the time after which other hubs
   * take it for dead: its runs stop then, before another hub frees their VM locks and leases and
   * may run the same VM. A new signal once a beat gets through again.
   */
  fenced(): AbortSignal;
  stop(): Promise<void>;
}

// This process's heartbeat row (PostgreSQL): written now and every beatMs until stopped.
export function startHeartbeat(
  db: Kysely<StoreDatabase>,
  self: StoreSelf,
  database: string,
  onError: (error: unknown) => void,
): Heartbeat {
  const startedAt = nowIso();
  let lastBeat = Date.now();
  let fence = new AbortController();
  const fenceAfterMs = self.deadAfterMs / 2;
  const beat = async () => {
    const row = {
      hub: self.hub,
      hostname: self.hostname,
      pid: self.pid,
      started_at: startedAt,
      beat_at: databaseTimeIso(db),
    };
    await db
      .insertInto('hub_processes')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['hub', 'hostname', 'pid']).doUpdateSet({ beat_at: databaseTimeIso(db), started_at: startedAt }),
      )
      .execute();
    lastBeat = Date.now();
    if (fence.signal.aborted) fence = new AbortController();
  };
  let pending: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    const silent = Date.now() - lastBeat;
    if (silent > fenceAfterMs && !fence.signal.aborted) {
      fence.abort(
        new SendenseError(
          `lost the state database ${database}: no heartbeat written for ${Math.round(silent / 1000)} s, so other hubs will soon take this one for dead; stopped here first (run doctor on this hub once the database is back)`,
        ),
      );
    }
    pending = beat().catch(onError);
  }, self.beatMs);
  timer.unref();
  return {
    beat,
    fenced: () => fence.signal,
    async stop() {
      clearInterval(timer);
      await pending;
      // Out of reach, the row stays: it ages out like a dead hub's (this process is ending anyway).
      await db
        .deleteFrom('hub_processes')
        .where('hub', '=', self.hub)
        .where('hostname', '=', self.hostname)
        .where('pid', '=', self.pid)
        .execute()
        .catch(() => {});
    },
  };
}
