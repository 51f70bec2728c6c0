// Moves a disk's planned work with a fixed number of workers spread over the connections, each
// owning one buffer, so memory is flat whatever the disk size; a write stays in flight after its
// buffer is free again. The first failure stops every worker and ends every connection.

import { SendenseError } from '../../src/errors.js';
import type { NbdConnection } from '../../src/nbd/index.js';
import type { TokenBucket } from '../../src/rate/token-bucket.js';
import type { ChangeSampler } from './change-sample.js';
import type { RangeDigests } from './range-digests.js';
import type { VsphereSource } from './vsphere-source.js';
import type { WorkItem } from './work-plan.js';

/** What a disk's copy reads from: NBD connections, or one vsphere: reader. */
export type DiskSource = NbdConnection | VsphereSource;

export interface CopyWork {
  readonly sources: readonly DiskSource[];
  readonly targets: readonly NbdConnection[];
  readonly items: AsyncIterator<WorkItem>;
  /** Bytes per request (= each worker's buffer). */
  readonly copySize: number;
  /** Workers (= requests in flight = buffers held). */
  readonly inFlight: number;
  /** Writes sent whose buffers are free again but the target has not answered yet. */
  readonly unansweredWrites: number;
  readonly bucket: TokenBucket;
  /** Ends the waits for the rate when the copy stops or fails. */
  readonly halt: AbortController;
  /** Every connection of the disk, ended on the first failure. */
  readonly opened: readonly { destroy(error?: Error): void }[];
  readonly sampler: ChangeSampler;
  readonly digests: RangeDigests | undefined;
  /** Bytes the target holds so far. */
  readonly progress: (bytesDone: number) => void;
}

export interface CopyTotals {
  bytesDone: number;
  bytesWritten: number;
  bytesZeroed: number;
}

// What the workers share while they run.
interface WorkersState {
  readonly work: CopyWork;
  // Data compared against, and written in pieces to a target that cannot WRITE_ZEROES.
  readonly zeroes: Buffer;
  readonly totals: CopyTotals;
  // Writes the target has not answered yet. Their buffers are already free again (the kernel
  // has the bytes), so the target keeps a deep queue without us holding more memory.
  readonly unanswered: Set<Promise<void>>;
  failure: unknown;
}

/** Runs the work to its end or its first failure, then waits for every write sent; failure is undefined if none. */
export async function runWorkers(work: CopyWork): Promise<{ readonly totals: CopyTotals; readonly failure: unknown }> {
  const state: WorkersState = {
    work,
    zeroes: Buffer.alloc(work.copySize),
    totals: { bytesDone: 0, bytesWritten: 0, bytesZeroed: 0 },
    unanswered: new Set(),
    failure: undefined,
  };
  await Promise.all(
    Array.from({ length: work.inFlight }, (_, index) => worker(state, index).catch((error) => fail(state, error))),
  );
  await Promise.allSettled([...state.unanswered]);
  return { totals: state.totals, failure: state.failure };
}

async function worker(state: WorkersState, index: number): Promise<void> {
  const { sources, targets, items, copySize, bucket, halt, sampler, digests } = state.work;
  const source = sources[index % sources.length]!;
  const target = targets[index % targets.length]!;
  // Shared memory, so the digest thread reads what was read without a copy.
  const buffer = Buffer.from(new SharedArrayBuffer(copySize));
  while (state.failure === undefined) {
    const next = await items.next();
    if (next.done) return;
    const { kind, offset, length } = next.value;
    if (kind === 'zero') {
      await zeroItem(state, target, offset, length);
      continue;
    }
    await bucket.take(length, halt.signal);
    const { data, allHoles } = await source.read(offset, length, buffer);
    // Data that reads as zeroes goes as WRITE_ZEROES: cheaper, and keeps the target sparse.
    if (allHoles || data.equals(state.zeroes.subarray(0, length))) {
      await zeroItem(state, target, offset, length);
      continue;
    }
    sampler.add(offset, data);
    const digested = digests?.addData(offset, data);
    await writeData(state, target, offset, length, data);
    await digested;
    while (state.unanswered.size >= state.work.unansweredWrites && state.failure === undefined)
      await Promise.race(state.unanswered);
  }
}

async function zeroItem(state: WorkersState, target: NbdConnection, offset: number, length: number): Promise<void> {
  state.work.digests?.addZero(offset, length);
  await zeroRange(state, target, offset, length);
  finished(state, length, 'bytesZeroed');
}

async function zeroRange(state: WorkersState, target: NbdConnection, offset: number, length: number): Promise<void> {
  if (target.canWriteZeroes) return target.writeZeroes(offset, length);
  const { zeroes } = state;
  for (let at = 0; at < length; at += zeroes.length)
    await target.write(offset + at, zeroes.subarray(0, Math.min(zeroes.length, length - at)));
}

// Resolves once the data is sent; its answer is counted (or fails the copy) when it comes.
async function writeData(
  state: WorkersState,
  target: NbdConnection,
  offset: number,
  length: number,
  data: Buffer,
): Promise<void> {
  const { sent, done } = target.writeQueued(offset, data);
  const answered = done.then(() => finished(state, length, 'bytesWritten'));
  state.unanswered.add(answered);
  answered.then(
    () => state.unanswered.delete(answered),
    (error: unknown) => {
      state.unanswered.delete(answered);
      fail(state, error);
    },
  );
  await sent;
}

function finished(state: WorkersState, length: number, how: 'bytesWritten' | 'bytesZeroed'): void {
  state.totals[how] += length;
  state.totals.bytesDone += length;
  state.work.progress(state.totals.bytesDone);
}

function fail(state: WorkersState, error: unknown): void {
  state.failure ??= error;
  state.work.halt.abort(error);
  // Fail fast: every pending request ends with the connections.
  for (const connection of state.work.opened) connection.destroy(error instanceof SendenseError ? error : undefined);
}
