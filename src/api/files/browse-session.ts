// One point's disk kept open for the API's files routes (./browse-sessions.ts): the appliance
// of `sendense-run files` (src/files/open-point.ts), one operation at a time (one libguestfs
// handle, one filesystem mounted at a time), streams read through FIFOs in a private directory.
// Guest paths only ever reach the appliance, where libguestfs resolves them inside the guest's
// tree; a path's folders are made real there first (realpath), so a symlinked folder that points
// at / names the guest's /, never the appliance's.

import { rmSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { isSendenseError, SendenseError } from '../../errors.js';
import { makeBrowseDir } from '../../files/browse-dir.js';
import { readFromAppliance } from '../../files/fifo-stream.js';
import { entryJson, filesystemsJson, type EntryJson, type FilesystemJson } from '../../files/files-json.js';
import { asUserError, type GuestEntry } from '../../files/guest-files.js';
import { GuestfsCallError } from '../../files/guestfs-agent.js';
import { escapeGuestName } from '../../files/guest-name.js';
import { extractedName, formatGuestPath, type GuestPath } from '../../files/guest-path.js';
import type { OpenPoint } from '../../files/open-point.js';
import { tarEvents } from '../../files/tar-entries.js';
import { archiveEvents, singleEntry, type ArchiveEntry, type ArchiveEvent } from './archive-entries.js';
import type { ArchiveSink } from './archive-sink.js';
import { FilesRequestError } from './files-request-error.js';
import { requireFilesystem } from './request-path.js';

/** An inclusive byte range, as HTTP's Range header gives it. */
export interface ByteRange {
  readonly start: number;
  /** Inclusive; at most size - 1. */
  readonly end: number;
}

export interface OpenedFile {
  /** The file as a listing shows it (its mtime for Last-Modified). */
  readonly entry: EntryJson;
  /** The whole file's size. */
  readonly size: number;
  /** The bytes the stream gives: start..end inclusive (end = start - 1 for an empty file). */
  readonly start: number;
  readonly end: number;
  readonly stream: Readable;
}

export interface ArchiveResult {
  /** Entries written (folders, files, symlinks). */
  readonly entries: number;
  /** Bytes of file data read from the appliance. */
  readonly bytes: number;
  /** Entries left out (device nodes, FIFOs, ...): the name (escaped as the CLI prints it) and why; the first 100. */
  readonly skipped: readonly { readonly name: string; readonly why: string }[];
  readonly skippedCount: number;
}

export interface ArchiveOptions {
  /** Keep setuid/setgid bits (default: cleared, as `files --get` does). */
  readonly keepSetuid?: boolean;
  /** The client is gone: the appliance's read stops, the session stays usable. */
  readonly signal?: AbortSignal;
}

const SKIPPED_KEPT = 100;
// A download's bytes read from the appliance per turn on the session.
const FILE_CHUNK = 4 * 1024 * 1024;

export class BrowseSession {
  private queue: Promise<void> = Promise.resolve();
  // Its FIFOs' folder (../../files/browse-dir.ts): a killed server's is removed by the next, or doctor.
  private readonly dir = makeBrowseDir();

  constructor(readonly opened: OpenPoint) {}

  get appliancePid(): number {
    return this.opened.files.agent.pid;
  }

  filesystems(): FilesystemJson[] {
    return filesystemsJson(this.opened.files.layout);
  }

  list(where: GuestPath): Promise<EntryJson[]> {
    return this.exclusive(async () => {
      const at = await this.resolve(where);
      try {
        return (await this.opened.files.list(at)).map(entryJson);
      } catch (error) {
        throw notFound(at, error);
      }
    });
  }

  stat(where: GuestPath): Promise<EntryJson> {
    return this.exclusive(async () => entryJson(await this.statOf(await this.resolve(where))));
  }

  // A regular file's bytes (a range of them), read FILE_CHUNK at a time: the session is held while
  // a chunk is read, never while the client takes it, so one that stops reading blocks no one.
  async openFile(where: GuestPath, range?: ByteRange): Promise<OpenedFile> {
    const { at, entry } = await this.exclusive(async () => {
      const at = await this.resolve(where);
      const entry = await this.statOf(at);
      if (entry.type !== 'file') throw notAFile(where, entry);
      return { at, entry };
    });
    if (entry.size === 0 && range === undefined)
      return { entry: entryJson(entry), size: 0, start: 0, end: -1, stream: Readable.from([]) };
    const start = range?.start ?? 0;
    const end = range?.end ?? entry.size - 1;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end >= entry.size) {
      throw new FilesRequestError(
        'range',
        `${formatGuestPath(where)}: bytes ${start}-${end} are not in the file (${entry.size} bytes)`,
      );
    }
    // One chunk waits in the stream at most (highWaterMark 1 byte): memory stays a chunk or two.
    const stream = Readable.from(this.fileChunks(at, start, end), { objectMode: false, highWaterMark: 1 });
    return { entry: entryJson(entry), size: entry.size, start, end, stream };
  }

  private async *fileChunks(at: GuestPath, start: number, end: number): AsyncGenerator<Buffer> {
    const agent = this.opened.files.agent;
    for (let offset = start; offset <= end; offset += FILE_CHUNK) {
      const length = Math.min(FILE_CHUNK, end - offset + 1);
      const chunk = await this.exclusive(async () => {
        // Another operation may have mounted another filesystem since the last chunk.
        await this.opened.files.use(at.fs);
        return readFromAppliance(
          this.dir,
          (fifo) => agent.call('download_offset', [at.path, fifo, offset, length]),
          async (bytes) => {
            const parts: Buffer[] = [];
            for await (const part of bytes) parts.push(part);
            return Buffer.concat(parts);
          },
        );
      });
      if (chunk.length !== length)
        throw new SendenseError(
          `${formatGuestPath(at)}: the appliance gave ${chunk.length} bytes at ${offset} instead of ${length}`,
        );
      yield chunk;
    }
  }

  // A folder (or one file or symlink) written into `sink` entry by entry, named as `files --get`
  // names it (its path below the filesystem's root).
  archive(
    where: GuestPath,
    makeSink: (prefix: string) => ArchiveSink,
    options: ArchiveOptions = {},
  ): Promise<ArchiveResult> {
    return this.exclusive(async () => {
      const at = await this.resolve(where);
      const entry = await this.statOf(at);
      if (entry.type !== 'directory' && entry.type !== 'file' && entry.type !== 'symlink') {
        throw new FilesRequestError(
          'wrong-type',
          `${formatGuestPath(where)} is a ${entry.type}: only files, folders and symlinks can be downloaded`,
        );
      }
      options.signal?.throwIfAborted();
      const sink = makeSink(extractedName(at));
      const skipped: { name: string; why: string }[] = [];
      let skippedCount = 0;
      let entries = 0;
      let bytes = 0;
      const keepSetuid = options.keepSetuid ?? false;
      const counted = async function* (events: AsyncIterable<ArchiveEvent>): AsyncGenerator<ArchiveEvent> {
        for await (const event of events) {
          if (event.kind === 'entry') entries++;
          else bytes += event.chunk.length;
          yield event;
        }
      };
      const stop = () => sink.abort(stoppedError());
      options.signal?.addEventListener('abort', stop, { once: true });
      try {
        const agent = this.opened.files.agent;
        if (entry.type === 'directory') {
          const skip = (name: Buffer, why: string) => {
            if (skippedCount++ < SKIPPED_KEPT) skipped.push({ name: escapeGuestName(name), why });
          };
          await readFromAppliance(
            this.dir,
            (fifo) => agent.call('tar_out', [at.path, fifo], { numericowner: 1 }),
            (stream) => sink.write(counted(archiveEvents(tarEvents(stream), { keepSetuid, skipped: skip }))),
          );
          // Hard links the format cannot hold: each its source's bytes again.
          for (const link of sink.refetch) {
            const source = Buffer.concat([Buffer.from(`${at.path === '/' ? '' : at.path}/`, 'utf8'), link.source]);
            // A hard link's tar entry has no size: its source's is the one the archive declares.
            const { st_size: size } = await agent.hash('lstatns', [source]);
            await readFromAppliance(
              this.dir,
              (fifo) => agent.call('download', [source, fifo]),
              (stream) => sink.write(counted(singleEntry({ ...link.entry, size: Number(size) }, stream))),
            );
          }
        } else if (entry.type === 'file') {
          const only = archiveEntry(entry, keepSetuid);
          await readFromAppliance(
            this.dir,
            (fifo) => agent.call('download', [at.path, fifo]),
            (stream) => sink.write(counted(singleEntry(only, stream))),
          );
        } else {
          await sink.write(counted(singleEntry(archiveEntry(entry, keepSetuid), [])));
        }
        await sink.end();
        return { entries, bytes, skipped, skippedCount };
      } catch (error) {
        sink.abort(error instanceof Error ? error : new Error(String(error)));
        if (options.signal?.aborted) throw stoppedError(error);
        throw error instanceof GuestfsCallError || isSendenseError(error)
          ? asUserError(error)
          : new SendenseError(`could not stream ${formatGuestPath(where)}: ${(error as Error).message}`, {
              cause: error,
            });
      } finally {
        options.signal?.removeEventListener('abort', stop);
      }
    });
  }

  // For an idle session (or a server going down): the appliance stops, then what it read through.
  async close(): Promise<void> {
    try {
      await this.opened.close();
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  // Ends the appliance now: pending operations fail (closeAll of a server going down).
  kill(): void {
    this.opened.kill();
  }

  // The open point to itself for `work` (the CLI's files session runs the files command's own code on it).
  withOpened<T>(work: (opened: OpenPoint) => Promise<T>): Promise<T> {
    return this.exclusive(() => work(this.opened));
  }

  private async exclusive<T>(work: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await work();
    } catch (error) {
      throw asUserError(error);
    } finally {
      release();
    }
  }

  // Waits for the operations before this one; the returned function lets the next one go.
  private acquire(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const before = this.queue;
    this.queue = before.then(() => mine);
    let released = false;
    return before.then(() => () => {
      if (released) return;
      released = true;
      release();
    });
  }

  // The path with its folders made real inside the guest (the last name as it is: a symlink stays one).
  private async resolve(where: GuestPath): Promise<GuestPath> {
    requireFilesystem(where, this.opened.files.layout);
    await this.opened.files.use(where.fs);
    if (where.path === '/') return where;
    const parent = path.posix.dirname(where.path);
    let real: string;
    try {
      real = parent === '/' ? '/' : await this.opened.files.agent.scalar<string>('realpath', [parent]);
    } catch (error) {
      throw notFound(where, error);
    }
    return { fs: where.fs, path: path.posix.join(real, path.posix.basename(where.path)) };
  }

  private async statOf(at: GuestPath): Promise<GuestEntry> {
    try {
      return await this.opened.files.stat(at);
    } catch (error) {
      throw notFound(at, error);
    }
  }
}

function archiveEntry(entry: GuestEntry, keepSetuid: boolean): ArchiveEntry {
  return {
    name: Buffer.alloc(0),
    type: entry.type === 'symlink' ? 'symlink' : 'file',
    mode: keepSetuid ? entry.mode : entry.mode & ~0o6000,
    uid: entry.uid,
    gid: entry.gid,
    size: entry.type === 'file' ? entry.size : 0,
    mtime: Math.floor(entry.mtime),
    link: entry.type === 'symlink' ? (entry.targetBytes ?? Buffer.from(entry.target ?? '', 'utf8')) : Buffer.alloc(0),
  };
}

function notAFile(where: GuestPath, entry: GuestEntry): FilesRequestError {
  const what =
    entry.type === 'symlink'
      ? `a symlink (to ${entry.target}): it is not followed; ask for the path it names`
      : `a ${entry.type}, not a file`;
  return new FilesRequestError('wrong-type', `${formatGuestPath(where)} is ${what}`);
}

// "No such file or directory" and "Not a directory" are the request's (404); anything else stays what it was.
function notFound(where: GuestPath, error: unknown): unknown {
  const cause = isSendenseError(error) && error.cause instanceof GuestfsCallError ? error.cause : error;
  const message = cause instanceof Error ? cause.message : String(cause);
  if (/No such file or directory|Not a directory/.test(message))
    return new FilesRequestError('not-found', `${formatGuestPath(where)}: no such file or directory`, error);
  return error;
}

function stoppedError(cause?: unknown): SendenseError {
  return new SendenseError('the download was stopped (the client went away)', { exitCode: 130, cause });
}
