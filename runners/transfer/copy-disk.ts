// Copies one disk: opens both sides, plans the work from the source's block status, then moves
// it with a fixed number of workers (copy-workers.ts). FLUSH every target connection at the end.

import { SendenseError } from '../../src/errors.js';
import type { NbdConnection } from '../../src/nbd/index.js';
import { UndoStack } from '../../src/engine/undo-stack.js';
import type { TokenBucket } from '../../src/rate/token-bucket.js';
import type { DiskOutcome, TransferDisk } from '../../src/wire/index.js';
import { openEndpoint, type EndpointContext } from './open-endpoint.js';
import { runWorkers, type DiskSource } from './copy-workers.js';
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
    const { sources, targets } = await openSides(job, tuning, { dir, cleanup, output }, opened);
    if (signal.aborted) throw stopped(job.key, signal);
    const copySize = requestSize(job, tuning, sources, targets);
    const { wholeDisk, bytesToDo, items } = await planDisk(job, tuning, sources[0]!, targets[0]!, copySize);
    output.start(job.key, sources[0]!.size, bytesToDo, wholeDisk);
    // How random the changed data is, measured where it is read (docs/anomaly.md#what-is-measured).
    const sampler = new ChangeSampler(bytesToDo);
    const digests = tuning.digests
      ? new RangeDigests(digester, (data, zero) => output.digests(job.key, data, zero))
      : undefined;
    const { totals, failure } = await runWorkers({
      sources,
      targets,
      items,
      copySize,
      inFlight: tuning.inFlight,
      unansweredWrites: tuning.unansweredWrites,
      bucket,
      halt,
      opened,
      sampler,
      digests,
      progress: (bytesDone) => output.progress(job.key, bytesDone, bytesToDo),
    });
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

// Both sides at once: each start is mostly waiting (qemu-img info, qemu-nbd, handshakes). Settled
// both before going on, so nothing opened late escapes the cleanup; what opened goes into opened.
async function openSides(
  job: DiskJob,
  tuning: CopyTuning,
  { dir, cleanup, output }: Pick<EndpointContext, 'dir' | 'cleanup' | 'output'>,
  opened: { destroy(error?: Error): void }[],
): Promise<{ readonly sources: readonly DiskSource[]; readonly targets: readonly NbdConnection[] }> {
  const context = { disk: job.key, connections: tuning.connections, dir, cleanup, output };
  const [sourceSide, targetSide] = await Promise.allSettled([
    job.source.kind === 'vsphere'
      ? openVsphere(job.source.listFile, job.key, tuning.connections, cleanup)
      : openEndpoint(job.source, { ...context, role: 'source', bitmap: job.bitmap }),
    openEndpoint(job.target, { ...context, role: 'target', bitmap: job.bitmap }),
  ]);
  for (const side of [sourceSide, targetSide]) if (side.status === 'fulfilled') opened.push(...side.value);
  if (sourceSide.status === 'rejected') throw sourceSide.reason;
  if (targetSide.status === 'rejected') throw targetSide.reason;
  return { sources: sourceSide.value, targets: targetSide.value };
}

// The bytes a request carries: what every connection takes, whole blocks when aligned; the target must hold the source.
function requestSize(
  job: DiskJob,
  tuning: CopyTuning,
  sources: readonly DiskSource[],
  targets: readonly NbdConnection[],
): number {
  const control = sources[0]!;
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
  return copySize;
}

// What this disk's copy does: every block or the changed ones (and why every block), how many bytes, and the items.
async function planDisk(
  job: DiskJob,
  tuning: CopyTuning,
  control: DiskSource,
  target: NbdConnection,
  copySize: number,
): Promise<{ wholeDisk: string | undefined; bytesToDo: number; items: AsyncIterator<WorkItem> }> {
  const areas = control instanceof VsphereSource ? control : undefined;
  // Shrunk and grown back since the parent: every block is copied, holes as zeroes.
  const wholeDisk =
    job.bitmap === undefined || areas !== undefined
      ? undefined
      : await whyWholeDisk(job, job.bitmap, control as NbdConnection, target);
  const bitmap = wholeDisk === undefined ? job.bitmap : undefined;
  const zeroHoles = wholeDisk !== undefined || job.zeroHoles;
  // A vsphere: source's work is the areas vSphere named (runners/README.md), not block status.
  const bytesToDo =
    areas !== undefined
      ? await areas.bytesToDo(job.align)
      : await countWork(control as NbdConnection, bitmap, zeroHoles, job.align);
  // Generators: nothing is asked of the source before the first item is taken.
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
  return { wholeDisk, bytesToDo, items };
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
