// The node transfer's stdout: the lines of src/wire/transfer-lines.ts, one per line, progress
// throttled per disk so a fast copy does not flood the hub.

import {
  formatTransferLine,
  type DataRange,
  type DiskOutcome,
  type TransferLine,
  type ZeroRange,
} from '../../src/wire/index.js';
import { DIGEST_ALGORITHM } from './range-digests.js';

const PROGRESS_INTERVAL_MS = 250;

export class TransferOutput {
  private readonly lastProgress = new Map<number, number>();

  constructor(private readonly writeLine: (line: string) => void) {}

  start(disk: number, virtualSize: number, bytesToDo: number, wholeDisk?: string): void {
    this.emit({ type: 'start', disk, virtualSize, bytesToDo, ...(wholeDisk !== undefined && { wholeDisk }) });
  }

  // At most one progress line per disk per interval.
  progress(disk: number, bytesDone: number, bytesToDo: number): void {
    const now = Date.now();
    if (now - (this.lastProgress.get(disk) ?? 0) < PROGRESS_INTERVAL_MS) return;
    this.lastProgress.set(disk, now);
    this.emit({ type: 'progress', disk, bytesDone, bytesToDo });
  }

  // A done disk's outcome carries all its totals.
  done(outcome: DiskOutcome & { readonly bytesDone: number; readonly bytesToDo: number }): void {
    const { disk, bytesDone, bytesToDo, bytesWritten, bytesZeroed, seconds, copiedWith } = outcome;
    const { sampledBlocks, incompressibleBlocks } = outcome;
    this.emit({ type: 'progress', disk, bytesDone, bytesToDo });
    this.emit({
      type: 'done',
      disk,
      bytesDone,
      bytesWritten,
      bytesZeroed,
      bytesToDo,
      seconds,
      ...(copiedWith === undefined ? {} : { copiedWith }),
      ...(sampledBlocks === undefined ? {} : { sampledBlocks, incompressibleBlocks: incompressibleBlocks ?? 0 }),
    });
  }

  // Digests of written ranges, in batches, before the disk's done line (docs/how-it-works.md#what-is-recorded-and-where).
  digests(disk: number, data: readonly DataRange[], zero: readonly ZeroRange[]): void {
    this.emit({ type: 'digests', disk, algorithm: DIGEST_ALGORITHM, data, zero });
  }

  error(disk: number, message: string): void {
    this.emit({ type: 'error', disk, message });
  }

  result(ok: boolean, disks: readonly DiskOutcome[]): void {
    this.emit({ type: 'result', ok, disks });
  }

  // Facts for operators and tests (qemu-nbd PIDs, peak memory); consumers ignore unknown types.
  debug(facts: { readonly message: string; readonly disk?: number; readonly [fact: string]: unknown }): void {
    this.emit({ type: 'debug', ...facts });
  }

  private emit(line: TransferLine): void {
    this.writeLine(formatTransferLine(line));
  }
}
