// Runs the disks of a transfer, --parallel-disks at a time (default all), and reports one result
// per disk; whatever a disk took (qemu-nbd, connections, the temp dir) is given back before this
// returns.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSendenseError } from '../../src/errors.js';
import { DEFAULT_TUNING, copyDisk, type CopyTuning } from './copy-disk.js';
import type { TransferArgs } from './transfer-args.js';
import { TransferOutput, type DiskOutcome } from './transfer-output.js';

export interface RunOptions {
  readonly writeLine: (line: string) => void;
  readonly signal: AbortSignal;
  readonly tuning?: Partial<CopyTuning>;
  /** Where a bug's stack goes (stderr in the CLI). */
  readonly logBug?: (text: string) => void;
}

export async function runTransfer(args: TransferArgs, options: RunOptions): Promise<{ readonly ok: boolean; readonly disks: readonly DiskOutcome[] }> {
  const output = new TransferOutput(options.writeLine);
  const inFlight = args.inFlight ?? DEFAULT_TUNING.inFlight;
  const tuning: CopyTuning = { ...DEFAULT_TUNING, connections: args.connections, inFlight, unansweredWrites: 2 * inFlight, ...options.tuning };
  const dir = mkdtempSync(join(tmpdir(), 'sendense-transfer-'));
  try {
    const disks = await inTurns(
      args.disks,
      args.parallelDisks ?? args.disks.length,
      async (job): Promise<DiskOutcome> => {
        try {
          return await copyDisk(job, tuning, dir, output, options.signal);
        } catch (error) {
          const message = isSendenseError(error) ? error.message : `internal error: ${error instanceof Error ? error.message : String(error)}`;
          if (!isSendenseError(error)) options.logBug?.(error instanceof Error && error.stack ? error.stack : String(error));
          output.error(job.key, message);
          return { disk: job.key, ok: false, error: message };
        }
      },
    );
    const ok = disks.every((disk) => disk.ok);
    output.debug({ message: 'peak memory', maxRssBytes: process.resourceUsage().maxRSS * 1024 });
    output.result(ok, disks);
    return { ok, disks };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Maps items with at most `limit` at once, results in the items' order.
async function inTurns<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  return results;
}
