// Copies one disk: plans the work from the source's block status, then moves it with a fixed
// number of workers spread over several connections, each owning one buffer, so memory is
// flat whatever the disk size; a write stays in flight after its buffer is free again.
// FLUSH every target connection at the end.

import { SendenseError } from '../../src/errors.js';
import type { NbdConnection } from '../../src/nbd/index.js';
import { UndoStack } from '../../src/engine/undo-stack.js';
import type { TokenBucket } from '../../src/rate/token-bucket.js';
import type { DiskOutcome, TransferDisk } from '../../src/wire/index.js';
import { openEndpoint } from './open-endpoint.js';
import type { TransferOutput } from './transfer-output.js';
import type { Digester } from './digest-thread.js';
import { RangeDigests } from './range-digests.js';
import { unseenZeroes } from './unseen-zeroes.js';
import { ChangeSampler } from './change-sample.js';
import { countWork, isMarked, planWork, type WorkItem } from './work-plan.js';
import { VsphereSource } from './vsphere-source.js';

/**
 * One disk to copy; zeroHoles: full mode writes the source's holes as zeroes too (the target holds
 * old data); align: only whole aligned blocks of this size, each once (a compressing target).
 */
export type DiskJob = TransferDisk & { readonly zeroHoles: boolean; readonly align?: number };

export interface CopyTuning {
  readonly connections: number;
  /** Requests in flight per disk (= worker count = buffers held). */
  readonly inFlight: number;
  readonly requestSize: number;
  readonly zeroSize: number;
  /** Writes sent whose buffers are free again but the target has not answered yet. */
  readonly unansweredWrites: number;
  /** Digests of what is written (docs/how-it-works.md#what-is-recorded-and-where); off for a restore, and to measure what they cost (bench/manifest.js). */
  readonly digests: boolean;
}

// connections: through an SSH tunnel each one is its own flow-control window, worth 1.5-2.8x over
// one at 20 ms RTT; on one host 1, 2 and 4 take the same time (bench/README.md).
export const DEFAULT_TUNING: CopyTuning = Object.freeze({
  connections: 4,
  inFlight: 16,
  requestSize: 2 * 1024 * 1024,
  zeroSize: 256 * 1024 * 1024,
  unansweredWrites: 32,
  digests: true,
});

export interface CopyContext {
  readonly dir: string;
  readonly output: TransferOutput;
  readonly signal: AbortSignal;
  /** Hashes what is written (a thread of its own in the bundled transfer). */
  readonly digester: Digester;
  /** The transfer's rate (docs/bandwidth.md), shared by every disk and connection: data is taken from it before it is read. */
  readonly bucket: TokenBucket;
}

export async function copyDisk(
  job: DiskJob,
  tuning: CopyTuning,
  { dir, output, signal, digester, bucket }: CopyContext,
): Promise<DiskOutcome> {
  const cleanup = new UndoStack();
  const opened: { destroy(error?: Error): void }[] = [];
  // Ends this disk's waits for the rate when it stops or fails (a slow rate must not hold them).
  const halt = new AbortController();
  const onAbort = (): void => {
    halt.abort(stopped(job.key, signal));
    for (const connection of opened) connection.destroy(stopped(job.key, signal));
  };
  signal.addEventListener('abort', onAbort);
  const started = Date.now();
  try {
    const context = { disk: job.key, connections: tuning.connections, dir, cleanup, output };
    // Both sides at once: each start is mostly waiting (qemu-img info, qemu-nbd, handshakes).
    // Settled both before going on, so nothing opened late escapes the cleanup.
    const [sourceSide, targetSide] = await Promise.allSettled([
      job.source.kind === 'vsphere'
        ? openVsphere(job.source.listFile, job.key, tuning.connections, cleanup)
        : openEndpoint(job.source, { ...context, role: 'source', bitmap: job.bitmap }),
      openEndpoint(job.target, { ...context, role: 'target', bitmap: job.bitmap }),
    ]);
    for (const side of [sourceSide, targetSide]) if (side.status === 'fulfilled') opened.push(...side.value);
    if (sourceSide.status === 'rejected') throw sourceSide.reason;
    if (targetSide.status === 'rejected') throw targetSide.reason;
    if (signal.aborted) throw stopped(job.key, signal);
    const sources = sourceSide.value;
    const targets = targetSide.value;
    const control = sources[0]!;
    const areas = control instanceof VsphereSource ? control : undefined;
    if (targets[0]!.size < control.size) {
      throw new SendenseError(
        `target ${targets[0]!.where} holds ${targets[0]!.size} bytes, less than the source's ${control.size}`,
        { disk: job.key },
      );
    }
    const largest = Math.min(
      tuning.requestSize,
      ...sources.map((c) => c.info.maximumPayload),
      ...targets.map((c) => c.info.maximumPayload),
    );
    // Aligned, a request is a whole number of blocks (work-plan.ts, alignedWork).
    const copySize = job.align === undefined ? largest : largest - (largest % job.align);
    if (copySize === 0)
      throw new SendenseError(
        `requests of at most ${largest} bytes cannot carry whole blocks of ${job.align} bytes (--align)`,
        { disk: job.key },
      );
    // Shrunk and grown back since the parent: every block is copied, holes as zeroes.
    const wholeDisk =
      job.bitmap === undefined || areas !== undefined
        ? undefined
        : await whyWholeDisk(job, job.bitmap, control as NbdConnection, targets[0]!);
    const bitmap = wholeDisk === undefined ? job.bitmap : undefined;
    const zeroHoles = wholeDisk !== undefined || job.zeroHoles;
    // A vsphere: source's work is the areas vSphere named (runners/README.md), not block status.
    const bytesToDo =
      areas !== undefined
        ? await areas.bytesToDo(job.align)
        : await countWork(control as NbdConnection, bitmap, zeroHoles, job.align);
    output.start(job.key, control.size, bytesToDo, wholeDisk);
    const items: AsyncIterator<WorkItem> =
      areas !== undefined
        ? areas.work(copySize, tuning.zeroSize, job.align)
        : planWork(control as NbdConnection, {
            bitmap,
            zeroHoles,
            copySize,
            zeroSize: tuning.zeroSize,
            align: job.align,
          });
    const zeroes = Buffer.alloc(copySize);
    const totals = { bytesDone: 0, bytesWritten: 0, bytesZeroed: 0 };
    // How random the changed data is, measured where it is read (docs/anomaly.md#what-is-measured).
    const sampler = new ChangeSampler(bytesToDo);
    const digests = tuning.digests
      ? new RangeDigests(digester, (data, zero) => output.digests(job.key, data, zero))
      : undefined;
    let failure: unknown;

    const zeroRange = async (target: NbdConnection, offset: number, length: number): Promise<void> => {
      if (target.canWriteZeroes) return target.writeZeroes(offset, length);
      for (let at = 0; at < length; at += zeroes.length)
        await target.write(offset + at, zeroes.subarray(0, Math.min(zeroes.length, length - at)));
    };
    const fail = (error: unknown): void => {
      failure ??= error;
      halt.abort(error);
      // Fail fast: every pending request ends with the connections.
      for (const connection of opened) connection.destroy(error instanceof SendenseError ? error : undefined);
    };
    const finished = (length: number, how: 'bytesWritten' | 'bytesZeroed'): void => {
      totals[how] += length;
      totals.bytesDone += length;
      output.progress(job.key, totals.bytesDone, bytesToDo);
    };
    // Writes the target has not answered yet. Their buffers are already free again (the kernel
    // has the bytes), so the target keeps a deep queue without us holding more memory.
    const unanswered = new Set<Promise<void>>();
    const worker = async (index: number): Promise<void> => {
      const source = sources[index % sources.length]!;
      const target = targets[index % targets.length]!;
      // Shared memory, so the digest thread reads what was read without a copy.
      const buffer = Buffer.from(new SharedArrayBuffer(copySize));
      while (failure === undefined) {
        const next = await items.next();
        if (next.done) return;
        const { kind, offset, length } = next.value;
        if (kind === 'zero') {
          digests?.addZero(offset, length);
          await zeroRange(target, offset, length);
          finished(length, 'bytesZeroed');
          continue;
        }
        await bucket.take(length, halt.signal);
        const { data, allHoles } = await source.read(offset, length, buffer);
        // Data that reads as zeroes goes as WRITE_ZEROES: cheaper, and keeps the target sparse.
        if (allHoles || data.equals(zeroes.subarray(0, length))) {
          digests?.addZero(offset, length);
          await zeroRange(target, offset, length);
          finished(length, 'bytesZeroed');
          continue;
        }
        sampler.add(offset, data);
        const digested = digests?.addData(offset, data);
        const { sent, done } = target.writeQueued(offset, data);
        const answered = done.then(() => finished(length, 'bytesWritten'));
        unanswered.add(answered);
        answered.then(
          () => unanswered.delete(answered),
          (error: unknown) => {
            unanswered.delete(answered);
            fail(error);
          },
        );
        await sent;
        await digested;
        while (unanswered.size >= tuning.unansweredWrites && failure === undefined) await Promise.race(unanswered);
      }
    };
    await Promise.all(Array.from({ length: tuning.inFlight }, (_, index) => worker(index).catch(fail)));
    await Promise.allSettled([...unanswered]);
    if (signal.aborted) throw stopped(job.key, signal);
    if (failure !== undefined) throw failure;
    // proto.md "NBD_CMD_FLUSH": without CAN_MULTI_CONN a flush covers only its own connection.
    await Promise.all(targets.map((target) => (target.canFlush ? target.flush() : undefined)));
    digests?.end();
    const outcome = {
      disk: job.key,
      ok: true,
      ...totals,
      bytesToDo,
      seconds: (Date.now() - started) / 1000,
      ...sampler.figures(),
    };
    output.done(outcome);
    return outcome;
  } finally {
    signal.removeEventListener('abort', onAbort);
    const failures = (await cleanup.unwind()).filter((outcome) => outcome.error !== undefined);
    for (const failed of failures)
      output.debug({ disk: job.key, message: `cleanup failed: ${failed.what}: ${failed.error?.message}` });
  }
}

// A vsphere: source: one reader whose requests share its kept-alive connections.
async function openVsphere(
  listFile: string,
  disk: number,
  connections: number,
  cleanup: UndoStack,
): Promise<VsphereSource[]> {
  const source = await VsphereSource.open(listFile, disk, connections);
  cleanup.push({
    what: `HTTPS connections to ${source.where}`,
    when: 'always',
    step: 'transfer',
    run: () => source.close(),
  });
  return [source];
}

function stopped(disk: number, signal: AbortSignal): SendenseError {
  return new SendenseError(`transfer stopped: ${String(signal.reason ?? 'stop requested')}`, { disk });
}

// Why an incremental must copy every block (docs/how-it-works.md#change-tracking-by-source): a shrink
// clears a bitmap's bits past the cut, so there the bitmap no longer says what changed.
async function whyWholeDisk(
  job: DiskJob,
  bitmap: string,
  source: NbdConnection,
  target: NbdConnection,
): Promise<string | undefined> {
  if (job.bitmapMark !== undefined && !(await isMarked(source, bitmap, job.bitmapMark))) {
    return `the disk shrank since dirty bitmap '${bitmap}' was added (its mark at byte ${job.bitmapMark} is gone): every block is copied`;
  }
  const unseen = await unseenZeroes(source, target, bitmap);
  if (unseen === undefined) return undefined;
  const range = `bytes ${unseen.offset}-${unseen.offset + unseen.length - 1}`;
  return `the disk reads zeroes at ${range} where the parent point holds data, yet dirty bitmap '${bitmap}' says nothing changed there: it was shrunk and grown back since; every block is copied`;
}
