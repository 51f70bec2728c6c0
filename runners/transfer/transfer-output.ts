// The node transfer's stdout: one JSON object per line (runners/README.md), progress
// throttled per disk so a fast copy does not flood the hub.

import { DIGEST_ALGORITHM, type DataRange, type ZeroRange } from './range-digests.js';

export interface DiskOutcome {
  readonly disk: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly bytesDone?: number;
  readonly bytesToDo?: number;
  readonly bytesWritten?: number;
  readonly bytesZeroed?: number;
  readonly seconds?: number;
}

const PROGRESS_INTERVAL_MS = 250;

export class TransferOutput {
  private readonly lastProgress = new Map<number, number>();

  constructor(private readonly writeLine: (line: string) => void) {}

  start(disk: number, virtualSize: number, bytesToDo: number): void {
    this.emit({ type: 'start', disk, virtualSize, bytesToDo });
  }

  // At most one progress line per disk per interval.
  progress(disk: number, bytesDone: number, bytesToDo: number): void {
    const now = Date.now();
    if (now - (this.lastProgress.get(disk) ?? 0) < PROGRESS_INTERVAL_MS) return;
    this.lastProgress.set(disk, now);
    this.emit({ type: 'progress', disk, bytesDone, bytesToDo });
  }

  done(outcome: DiskOutcome): void {
    this.emit({ type: 'progress', disk: outcome.disk, bytesDone: outcome.bytesDone, bytesToDo: outcome.bytesToDo });
    this.emit({ type: 'done', ...outcome, ok: undefined });
  }

  // Digests of written ranges, in batches, before the disk's done line (SPEC section 9).
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
  debug(facts: Readonly<Record<string, unknown>>): void {
    this.emit({ type: 'debug', ...facts });
  }

  private emit(object: Readonly<Record<string, unknown>>): void {
    this.writeLine(JSON.stringify(object));
  }
}
