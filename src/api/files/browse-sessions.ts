// Warm file-browse sessions for the API's files routes (docs/file-level-restore.md, "Through the API"): one
// appliance per (VM, backup, disk, repository), opened as `sendense-run files` opens it
// (src/files/open-point.ts), kept until idle for idleMs, at most `max` at once (the least
// recently used idle one closed to make room). Requests for the same point share one opening.
// Closing gives back what the files command gives back on exit: the appliance, an encrypted
// point's qemu-nbd and the run it was recorded under.

import type { Writable } from 'node:stream';
import { isSendenseError, SendenseError } from '../../errors.js';
import { findPointFile, type PointFile } from '../../files/backup-point.js';
import { fastListing, type FastListing } from '../../files/fast/fast-listing.js';
import { entryJson, type EntryJson, type FilesystemJson } from '../../files/files-json.js';
import { formatGuestPath } from '../../files/guest-path.js';
import { openPoint, type OpenPoint } from '../../files/open-point.js';
import { parseRestorePoint } from '../../plan/restore-point.js';
import type { DiskKey, RestorePoint } from '../../plan/types.js';
import type { Store } from '../../store/index.js';
import {
  BrowseSession,
  type ArchiveOptions,
  type ArchiveResult,
  type ByteRange,
  type OpenedFile,
} from './browse-session.js';
import type { ApplianceStarting } from '../files-port.js';
import type { BrowseRecorder } from './browse-records.js';
import { FilesRequestError } from './files-request-error.js';
import { parseRequestPath } from './request-path.js';
import { tarZstSink } from './tar-zst-sink.js';
import { zipSink } from './zip-sink.js';
import type { ResolvedPoint } from './resolved-point.js';
export type { ResolvedPoint } from './resolved-point.js';

/** Which point's disk a request reads. */
export interface PointKey {
  readonly vm: string;
  /** latest (default), a backup id, or an ISO-8601 time, as `files --point` takes it. */
  readonly point?: string | RestorePoint;
  /** Default: the backup's first disk (as `files` without --disk). */
  readonly disk?: DiskKey;
  readonly repository?: string;
}

export interface BrowseSessionsOptions {
  /** A session unused for this long is closed (default 5 minutes). */
  readonly idleMs?: number;
  /** Sessions open at once (default 4). */
  readonly max?: number;
  /** What is being started, one line each (the appliance, the emulation fallback). */
  readonly note?: (line: string) => void;
  /** A session closed by itself: idle for idleMs, its appliance gone, or closed to make room. */
  readonly onClose?: (point: ResolvedPoint) => void;
  /** Each session recorded in the state database while open (the API's: ./browse-records.ts). */
  readonly recorder?: BrowseRecorder;
}

export interface BrowseSessionInfo extends ResolvedPoint {
  /** The libguestfs agent's PID (its appliance is its child). */
  readonly appliancePid: number;
  /** Operations running or waiting. */
  readonly users: number;
  readonly lastUsedAt: Date;
}

interface Slot {
  readonly point: ResolvedPoint;
  readonly opening: Promise<BrowseSession>;
  session?: BrowseSession;
  users: number;
  lastUsed: number;
  /** When its appliance began starting (Date.now()). */
  readonly startedAt: number;
  timer?: NodeJS.Timeout;
  /** Its record's name, once recorded (options.recorder). */
  record?: Promise<string | undefined>;
}

export const DEFAULT_IDLE_MS = 5 * 60_000;
export const DEFAULT_MAX_SESSIONS = 4;

export class BrowseSessions {
  private readonly slots = new Map<string, Slot>();
  private readonly closing = new Set<Promise<void>>();
  // An appliance that failed to start while no request waited on it: told to the next request.
  private readonly failures = new Map<string, unknown>();
  private readonly idleMs: number;
  private readonly max: number;
  private closed = false;
  /** Appliances started since this object was made (one per opening, shared or not). */
  appliancesStarted = 0;

  constructor(
    private readonly store: Store,
    private readonly options: BrowseSessionsOptions = {},
  ) {
    this.idleMs = positive('idleMs', options.idleMs ?? DEFAULT_IDLE_MS);
    this.max = positive('max', options.max ?? DEFAULT_MAX_SESSIONS);
  }

  // The point with its filesystems, as `files VM --json` prints them (one disk: the key's).
  async filesystems(key: PointKey): Promise<{ readonly point: ResolvedPoint; readonly filesystems: FilesystemJson[] }> {
    return this.using(key, async (session, point) => ({ point, filesystems: session.filesystems() }));
  }

  // A directory's entries (a path that is not one lists as itself), as `files VM NAME:/DIR --json`.
  list(key: PointKey, guestPath: string): Promise<EntryJson[]> {
    const where = parseRequestPath(guestPath);
    return this.using(key, (session) => session.list(where));
  }

  // The same entries by the fast path (docs/file-level-restore.md#the-fast-path) when no session of
  // the point is open (an open one answers at once) and the fast path reads that filesystem; else undefined.
  async fastList(
    key: PointKey,
    guestPath: string,
  ): Promise<{ readonly reader: FastListing['reader']; readonly entries: EntryJson[] } | undefined> {
    const where = parseRequestPath(guestPath);
    const found = await this.find(key);
    const point = resolvedOf(key, found);
    if (this.slots.has(JSON.stringify([point.vm, point.backupId, point.diskKey, point.repository]))) return undefined;
    try {
      const listed = await fastListing(found, where);
      return listed && { reader: listed.reader, entries: listed.entries.map(entryJson) };
    } catch (error) {
      if (isSendenseError(error) && /No such file or directory|is not a directory/.test(error.message))
        throw new FilesRequestError('not-found', `${formatGuestPath(where)}: no such file or directory`, error);
      throw error;
    }
  }

  // Undefined when the point's session is open; else its appliance is started (once: a second
  // call finds it starting) and how long it has been starting is said, no one waiting on it.
  async starting(key: PointKey): Promise<ApplianceStarting | undefined> {
    if (this.closed) throw new SendenseError('the file browser is shutting down');
    const point = await this.resolve(key);
    const id = idOf({ point });
    const failure = this.failures.get(id);
    if (failure !== undefined) {
      this.failures.delete(id);
      throw failure;
    }
    let slot = this.slots.get(id);
    if (slot?.session !== undefined) return undefined;
    if (slot === undefined) {
      this.makeRoom();
      slot = this.open(id, point);
    }
    return {
      status: 'starting',
      reader: 'appliance',
      startedSeconds: Math.floor((Date.now() - slot.startedAt) / 1000),
    };
  }

  stat(key: PointKey, guestPath: string): Promise<EntryJson> {
    const where = parseRequestPath(guestPath);
    return this.using(key, (session) => session.stat(where));
  }

  // A regular file's bytes (an inclusive range of them); the session counts as in use until the stream ends.
  async openFile(key: PointKey, guestPath: string, range?: ByteRange): Promise<OpenedFile> {
    const where = parseRequestPath(guestPath);
    const slot = await this.take(key);
    let opened: OpenedFile;
    try {
      opened = await (await slot.opening).openFile(where, range);
    } catch (error) {
      this.give(slot);
      throw error;
    }
    let given = false;
    const give = () => {
      if (!given) this.give(slot);
      given = true;
    };
    opened.stream.once('close', give);
    opened.stream.once('end', give);
    opened.stream.once('error', give);
    return opened;
  }

  // A streaming ZIP of a folder, file or symlink into `out` (ZIP64 when needed), named as `files --get` names it.
  zipDirectory(
    key: PointKey,
    guestPath: string,
    out: Writable,
    options: ArchiveOptions & { readonly compress?: boolean } = {},
  ): Promise<ArchiveResult> {
    const where = parseRequestPath(guestPath);
    return this.using(key, (session) =>
      session.archive(where, (prefix) => zipSink(out, { prefix, compress: options.compress }), options),
    );
  }

  // The same as a tar compressed by zstd.
  tarZstDirectory(
    key: PointKey,
    guestPath: string,
    out: Writable,
    options: ArchiveOptions & { readonly level?: number } = {},
  ): Promise<ArchiveResult> {
    const where = parseRequestPath(guestPath);
    return this.using(key, (session) =>
      session.archive(where, (prefix) => tarZstSink(out, { prefix, level: options.level }), options),
    );
  }

  // The open point to `work` alone (no other operation on it meanwhile), as `sendense-run files`
  // uses it in a files session (src/files/session/session-server.ts).
  withOpened<T>(key: PointKey, work: (opened: OpenPoint, point: ResolvedPoint) => Promise<T>): Promise<T> {
    return this.using(key, (session, point) => session.withOpened((opened) => work(opened, point)));
  }

  /** The sessions open now (or opening), for status and tests. */
  sessions(): BrowseSessionInfo[] {
    return [...this.slots.values()]
      .filter((slot) => slot.session !== undefined)
      .map((slot) => ({
        ...slot.point,
        appliancePid: slot.session!.appliancePid,
        users: slot.users,
        lastUsedAt: new Date(slot.lastUsed),
      }));
  }

  // For a server going down: every session closed (a running download's appliance ended first).
  async closeAll(): Promise<void> {
    this.closed = true;
    const slots = [...this.slots.values()];
    this.slots.clear();
    for (const slot of slots) {
      clearTimeout(slot.timer);
      void this.closeSlot(slot, slot.users > 0);
    }
    while (this.closing.size > 0) await Promise.all([...this.closing]);
  }

  // Each recorded session whose record another process has forgotten (files --stop-sessions, a
  // merge of its point) closed, a call under way failing as interrupted; resolves once all are closed.
  async endForgotten(): Promise<void> {
    const recorder = this.options.recorder;
    if (recorder === undefined) return;
    const named = await Promise.all([...this.slots].map(async ([id, slot]) => ({ id, slot, name: await slot.record })));
    const kept = await recorder.recorded();
    const ending: Promise<void>[] = [];
    for (const { id, slot, name } of named) {
      if (name === undefined || kept.has(name) || this.slots.get(id) !== slot) continue;
      // A download or listing under way goes on, exact: the session is recorded again, and the
      // process that wanted it ended is refused (docs/file-level-restore.md#files-sessions).
      if (slot.users > 0) {
        ending.push(recorder.kept(name));
        continue;
      }
      this.slots.delete(id);
      clearTimeout(slot.timer);
      ending.push(this.closeSlot(slot, slot.users > 0));
    }
    await Promise.all(ending);
  }

  private async using<T>(
    key: PointKey,
    work: (session: BrowseSession, point: ResolvedPoint) => Promise<T>,
  ): Promise<T> {
    const slot = await this.take(key);
    try {
      return await work(await slot.opening, slot.point);
    } finally {
      this.give(slot);
    }
  }

  // The key's slot marked in use: the one open, the one opening, or a new one (room made if need be).
  private async take(key: PointKey): Promise<Slot> {
    if (this.closed) throw new SendenseError('the file browser is shutting down');
    const point = await this.resolve(key);
    if (this.closed) throw new SendenseError('the file browser is shutting down');
    const id = JSON.stringify([point.vm, point.backupId, point.diskKey, point.repository]);
    let slot = this.slots.get(id);
    if (slot === undefined) {
      this.makeRoom();
      slot = this.open(id, point);
    }
    clearTimeout(slot.timer);
    slot.users++;
    slot.lastUsed = Date.now();
    try {
      await slot.opening;
    } catch (error) {
      slot.users--;
      throw error;
    }
    return slot;
  }

  private give(slot: Slot): void {
    slot.users--;
    slot.lastUsed = Date.now();
    this.closeWhenIdle(slot);
  }

  private closeWhenIdle(slot: Slot): void {
    if (slot.users > 0 || this.slots.get(idOf(slot)) !== slot) return;
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      if (slot.users > 0 || this.slots.get(idOf(slot)) !== slot) return;
      this.slots.delete(idOf(slot));
      void this.closeSlot(slot, false, true);
    }, this.idleMs);
    slot.timer.unref();
  }

  private open(id: string, point: ResolvedPoint): Slot {
    this.appliancesStarted++;
    this.failures.delete(id);
    const opening = openPoint(this.store, {
      vm: point.vm,
      point: { type: 'id', id: point.backupId },
      disk: point.diskKey,
      repository: point.repository,
      inspect: true,
      note: this.options.note,
      command: 'files',
    }).then((opened) => new BrowseSession(opened));
    const slot: Slot = { point, opening, users: 0, lastUsed: Date.now(), startedAt: Date.now() };
    slot.opening.then(
      (session) => {
        slot.session = session;
        const { recorder } = this.options;
        slot.record = recorder
          ?.opened(point, session.appliancePid, Math.round(this.idleMs / 1000))
          .catch((error: unknown) => {
            this.options.note?.(`recording the file browse session of backup ${point.backupId}: ${String(error)}`);
            return undefined;
          });
        // Started for a request that did not wait (starting()): idle until one comes.
        slot.lastUsed = Date.now();
        this.closeWhenIdle(slot);
        // An appliance that dies (killed, out of memory) takes its session with it.
        void session.opened.files.agent.exit.then(() => {
          if (this.slots.get(id) !== slot) return;
          this.slots.delete(id);
          clearTimeout(slot.timer);
          void this.closeSlot(slot, false, true);
        });
      },
      (error: unknown) => {
        if (this.slots.get(id) !== slot) return;
        this.slots.delete(id);
        if (slot.users === 0) this.failures.set(id, error);
      },
    );
    this.slots.set(id, slot);
    return slot;
  }

  // At most `max`: the least recently used idle session closed, or the request refused.
  private makeRoom(): void {
    if (this.slots.size < this.max) return;
    const idle = [...this.slots.entries()]
      .filter(([, slot]) => slot.users === 0 && slot.session !== undefined)
      .sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    if (idle.length === 0) {
      throw new FilesRequestError(
        'busy',
        `all ${this.max} file browse sessions are in use (a listing or download on each): try again when one ends`,
      );
    }
    const [id, slot] = idle[0];
    this.slots.delete(id);
    clearTimeout(slot.timer);
    void this.closeSlot(slot, false, true);
  }

  // `byItself`: not asked for (closeAll), so onClose is told once the appliance is closed.
  private closeSlot(slot: Slot, kill: boolean, byItself = false): Promise<void> {
    const closing = (async () => {
      const session = await slot.opening.catch(() => undefined);
      if (session === undefined) return;
      if (kill) session.kill();
      await session
        .close()
        .catch((error: unknown) =>
          this.options.note?.(
            `closing the file browse session of backup ${slot.point.backupId}: ${(error as Error).message}`,
          ),
        );
      const name = await slot.record;
      if (name !== undefined)
        await this.options.recorder
          ?.closed(name)
          .catch((error: unknown) =>
            this.options.note?.(
              `forgetting the file browse session of backup ${slot.point.backupId}: ${String(error)}`,
            ),
          );
      if (byItself) this.options.onClose?.(slot.point);
    })();
    this.closing.add(closing);
    void closing.finally(() => this.closing.delete(closing));
    return closing;
  }

  private async resolve(key: PointKey): Promise<ResolvedPoint> {
    return resolvedOf(key, await this.find(key));
  }

  private async find(key: PointKey): Promise<PointFile> {
    const point = typeof key.point === 'string' ? parsePoint(key.point) : (key.point ?? { type: 'latest' });
    try {
      return await findPointFile(this.store, key.vm, point, key.disk, key.repository);
    } catch (error) {
      // No such VM, backup or disk: the request's (exit code 2 for the CLI).
      if (isSendenseError(error) && (error.exitCode === 2 || /has no disk/.test(error.message)))
        throw new FilesRequestError('not-found', error.message, error);
      throw error;
    }
  }
}

function resolvedOf(key: PointKey, found: PointFile): ResolvedPoint {
  return { vm: key.vm, backupId: found.backup.id, diskKey: found.disk.diskKey, repository: found.backup.repository };
}

function idOf(slot: Pick<Slot, 'point'>): string {
  return JSON.stringify([slot.point.vm, slot.point.backupId, slot.point.diskKey, slot.point.repository]);
}

function parsePoint(text: string): RestorePoint {
  const point = parseRestorePoint(text);
  if (typeof point === 'string') throw new FilesRequestError('bad-request', `point: ${point}`);
  return point;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`BrowseSessions: ${name} must be a positive number (got ${value})`);
  return value;
}
