// A full copy of an image file on this host into the new backup file itself (a full backup whose
// node is the hub, docs/how-it-works.md#a-local-full-backup): `qemu-img convert` writes the target,
// one process reading and writing, and the digests are taken beside it from the source's file read
// straight (src/qemu/image-file-reader.ts), cut and recorded as the NBD path records them
// (work-plan.ts, range-digests.ts). Both read the same file at once, so on disk it is read once and
// the second reader finds it in the page cache.
//
// Only for a disk the hub marked `copy: 'qemu-img'` (it decided: src/transfer/transfer-plan.ts; the
// request's parser refuses the mark with a bitmap, align, holes as zeroes, a rate or no digests).
// The target must be a fresh file (no backing file, not encrypted): else the disk fails. Compressed
// clusters or data outside the source's file only its map shows: that disk goes through NBD
// (copy-disk.ts), as documented.
//
// qemu-img runs under `setpriv --pdeathsig KILL`: the kernel ends it with this process, so a
// transfer killed outright leaves no writer behind; a stop kills it and waits for it.

import { spawn, type ChildProcess } from 'node:child_process';
import { SendenseError } from '../../src/errors.js';
import { convertIntoNewFileSetprivArgv } from '../../src/qemu/command-lines.js';
import { imageInfoWith } from '../../src/qemu/image-info.js';
import { openImageFile, pageAlignedBuffer, type ImageFileReader } from '../../src/qemu/image-file-reader.js';
import { isEncryptedQcow2, readBacking } from '../../src/qemu/qcow2-header.js';
import type { DiskOutcome, TransferImageFormat } from '../../src/wire/index.js';
import type { CopyTuning, DiskJob } from './copy-disk.js';
import type { Digester } from './digest-thread.js';
import { RangeDigests } from './range-digests.js';
import { ChangeSampler } from './change-sample.js';
import { runCommand } from './run-command.js';
import { cutToSize } from './work-plan.js';
import type { TransferOutput } from './transfer-output.js';

/** What a copy by qemu-img is called in the done line and the hub's summary. */
export const QEMU_IMG_CONVERT = 'qemu-img convert';

// Reads of the source for its digests in flight at once per disk.
const READS_IN_FLIGHT = 4;
// Read buffers of all disks at once: a read goes through one of libuv's four threads, so more in
// flight gains nothing, and 16 disks copied at once would otherwise hold 64 buffers (128 MiB).
const READ_BUFFERS = 8;
// What qemu-img says of itself when it fails: its last lines are enough.
const STDERR_KEPT = 8 * 1024;

/** A disk qemu-img can copy: its source read straight, and where both sides are. */
export interface LocalCopy {
  readonly reader: ImageFileReader;
  readonly source: { readonly path: string; readonly format: TransferImageFormat };
  readonly target: { readonly path: string; readonly format: TransferImageFormat };
}

export interface QemuCopyContext {
  readonly output: TransferOutput;
  readonly signal: AbortSignal;
  readonly digester: Digester;
}

/**
 * The copy qemu-img makes of a disk marked for it (see above); undefined: the NBD path. Asked before
 * anything is started, so the NBD path finds the disk untouched.
 */
export async function localCopy(job: DiskJob): Promise<LocalCopy | undefined> {
  const { source, target } = job;
  if (job.copy !== 'qemu-img') return undefined;
  if (source.kind !== 'qemu' || target.kind !== 'file' || source.format === undefined)
    throw new Error(`disk ${job.key}: marked for qemu-img without a qemu: source of a named format and a file: target`);
  const unfit = unfitTarget(target.path, target.format);
  if (unfit !== undefined)
    throw new SendenseError(`target ${target.path} ${unfit}: qemu-img cannot copy into it`, { disk: job.key });
  const reader = await openImageFile(source.path, source.format, { runner: runCommand }).catch(() => undefined);
  return reader === undefined
    ? undefined
    : {
        reader,
        source: { path: source.path, format: source.format },
        target: { path: target.path, format: target.format },
      };
}

// What makes a target no fresh file of its own (a backing file, encryption), or that its header cannot be read.
function unfitTarget(path: string, format: TransferImageFormat): string | undefined {
  if (format !== 'qcow2') return undefined;
  try {
    if (readBacking(path) !== undefined) return 'has a backing file';
    return isEncryptedQcow2(path) ? 'is encrypted' : undefined;
  } catch (error) {
    return `cannot be read (${error instanceof Error ? error.message : String(error)})`;
  }
}

export async function qemuCopyDisk(
  job: DiskJob,
  { reader, source, target }: LocalCopy,
  tuning: CopyTuning,
  { output, signal, digester }: QemuCopyContext,
): Promise<DiskOutcome> {
  const started = Date.now();
  let convert: Convert | undefined;
  const halt = new AbortController();
  const onAbort = (): void => {
    halt.abort(stopped(job.key, signal));
    void convert?.stop();
  };
  signal.addEventListener('abort', onAbort);
  try {
    const targetInfo = await imageInfoWith(runCommand, target.path, { format: target.format });
    if (targetInfo.virtualSize < reader.size) {
      throw new SendenseError(
        `target ${target.path} holds ${targetInfo.virtualSize} bytes, less than the source's ${reader.size}`,
        { disk: job.key },
      );
    }
    const ranges = reader.allocated();
    const bytesToDo = ranges.reduce((sum, range) => sum + range.length, 0);
    output.start(job.key, reader.size, bytesToDo);
    if (signal.aborted) throw stopped(job.key, signal);
    const totals = { bytesDone: 0, bytesWritten: 0, bytesZeroed: 0 };
    const report = (): void =>
      output.progress(job.key, Math.min(totals.bytesDone, Math.floor(running.fraction() * bytesToDo)), bytesToDo);
    const running = startConvert(source, target, report);
    convert = running;
    output.debug({ disk: job.key, message: 'qemu-img convert started', pid: running.pid });
    // A failed convert ends the reads at once (its error is the one to report).
    void running.exited.then((exit) => {
      if (exit.code !== 0 && !running.stopAsked()) halt.abort(convertFailed(job.key, running, exit));
    });
    const digests = new RangeDigests(digester, (data, zero) => output.digests(job.key, data, zero));
    const pieces = (function* () {
      for (const range of ranges) yield* cutToSize(range, tuning.requestSize, tuning.zeroSize);
    })();
    const zeroes = Buffer.alloc(tuning.requestSize);
    // How random the copied data is, as the NBD path measures it (docs/anomaly.md#what-is-measured).
    const sampler = new ChangeSampler(bytesToDo);
    const worker = async (): Promise<void> => {
      for (let next = pieces.next(); !next.done; next = pieces.next()) {
        halt.signal.throwIfAborted();
        const { kind, offset, length } = next.value;
        const buffer = kind === 'copy' ? await readBuffers.take(tuning.requestSize) : undefined;
        try {
          halt.signal.throwIfAborted();
          const data = buffer === undefined ? undefined : await reader.read(offset, length, buffer);
          // Data that reads as zeroes is recorded as zeroes, as the NBD path writes it (copy-disk.ts).
          if (data === undefined || data.equals(zeroes.subarray(0, length))) {
            digests.addZero(offset, length);
            totals.bytesZeroed += length;
          } else {
            sampler.add(offset, data);
            await digests.addData(offset, data);
            totals.bytesWritten += length;
          }
        } finally {
          if (buffer !== undefined) readBuffers.give(buffer);
        }
        totals.bytesDone += length;
        report();
      }
    };
    // A failed read or digest ends the copy too.
    const hashed = Promise.all(Array.from({ length: READS_IN_FLIGHT }, () => worker())).catch((error: unknown) => {
      void running.stop();
      throw error;
    });
    // Either may fail first; both are waited for, so nothing runs on after this returns. A failed
    // read stopped qemu-img: its error, not qemu-img's end, is the one to report.
    const [hashing, exit] = await Promise.all([
      hashed.then(
        () => undefined,
        (error: unknown) => ({ error }),
      ),
      running.exited,
    ]);
    if (signal.aborted) throw stopped(job.key, signal);
    if (hashing !== undefined && running.stopAsked()) throw hashing.error;
    if (exit.code !== 0) throw convertFailed(job.key, running, exit);
    if (hashing !== undefined) throw hashing.error;
    digests.end();
    const outcome = {
      disk: job.key,
      ok: true,
      ...totals,
      bytesToDo,
      seconds: (Date.now() - started) / 1000,
      copiedWith: QEMU_IMG_CONVERT,
      ...sampler.figures(),
    };
    output.done(outcome);
    return outcome;
  } finally {
    signal.removeEventListener('abort', onAbort);
    halt.abort();
    await convert?.stop();
    await reader.close().catch(() => undefined);
  }
}

// The read buffers every disk's digest reads share, READ_BUFFERS of each size at most, in the order
// asked for: shared and page-aligned, so a read from the page cache costs a quarter of the CPU and
// the digest thread hashes it without a copy.
class ReadBuffers {
  private readonly free = new Map<number, Buffer[]>();
  private readonly made = new Map<number, number>();
  private readonly waiting = new Map<number, ((buffer: Buffer) => void)[]>();

  take(size: number): Promise<Buffer> {
    const buffer = this.free.get(size)?.pop();
    if (buffer !== undefined) return Promise.resolve(buffer);
    const made = this.made.get(size) ?? 0;
    if (made < READ_BUFFERS) {
      this.made.set(size, made + 1);
      return Promise.resolve(pageAlignedBuffer(size, true));
    }
    return new Promise((resolve) => {
      const queue = this.waiting.get(size) ?? [];
      queue.push(resolve);
      this.waiting.set(size, queue);
    });
  }

  give(buffer: Buffer): void {
    const next = this.waiting.get(buffer.length)?.shift();
    if (next !== undefined) next(buffer);
    else {
      const free = this.free.get(buffer.length) ?? [];
      free.push(buffer);
      this.free.set(buffer.length, free);
    }
  }
}

const readBuffers = new ReadBuffers();

interface ConvertExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

interface Convert {
  readonly pid: number | undefined;
  readonly exited: Promise<ConvertExit>;
  /** What qemu-img -p last said it has done, 0 to 1. */
  fraction(): number;
  stderr(): string;
  /** Whether stop() was called (its end is then ours, not a failure of its own). */
  stopAsked(): boolean;
  /** Ends it if it still runs (SIGKILL: what it wrote is an unfinished backup's, deleted by the run's undo or doctor; a stopped process takes nothing else), and waits for it. */
  stop(): Promise<void>;
}

// -n: into the file the hub created (its cluster size, its options); --target-is-zero: it is new
// and holds nothing, so unallocated ranges are not written. qemu-img's default cache mode for the
// target writes through the page cache without flushes: the hub syncs the file before the backup
// is recorded complete (docs/how-it-works.md#the-data-path).
// onProgress: after each -p figure.
function startConvert(source: LocalCopy['source'], target: LocalCopy['target'], onProgress: () => void): Convert {
  const argv = convertIntoNewFileSetprivArgv(source, target);
  const child: ChildProcess = spawn('setpriv', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let fraction = 0;
  let stderr = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (text: string) => {
    // "    (12.34/100%)\r", one after another.
    const all = [...text.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
    const last = all.at(-1);
    if (last === undefined) return;
    fraction = Math.min(1, Number(last[1]) / 100);
    onProgress();
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => (stderr = (stderr + text).slice(-STDERR_KEPT)));
  const exited = new Promise<ConvertExit>((resolve) => {
    child.once('error', (error) => {
      stderr += `${error.message}\n`;
      resolve({ code: 127, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  let ended = false;
  let asked = false;
  void exited.then(() => (ended = true));
  return {
    pid: child.pid,
    exited,
    fraction: () => fraction,
    stderr: () => stderr,
    stopAsked: () => asked,
    async stop() {
      asked = true;
      if (!ended) child.kill('SIGKILL');
      await exited;
    },
  };
}

function convertFailed(disk: number, convert: Convert, exit: ConvertExit): SendenseError {
  const how = exit.code === null ? `was stopped (${exit.signal ?? 'unknown signal'})` : `exited with code ${exit.code}`;
  const said = convert
    .stderr()
    .trim()
    .split('\n')
    .slice(-3)
    .map((line) => line.replace(/^qemu-img: /, ''))
    .join(' | ');
  return new SendenseError(`qemu-img convert ${how}${said ? `: ${said}` : ''}`, { disk });
}

function stopped(disk: number, signal: AbortSignal): SendenseError {
  return new SendenseError(`transfer stopped: ${String(signal.reason ?? 'stop requested')}`, { disk });
}
