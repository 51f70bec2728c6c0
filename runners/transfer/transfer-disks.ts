// Runs the disks of a transfer, --parallel-disks at a time (default all), and reports one result
// per disk; whatever a disk took (qemu-nbd, connections, the temp dir) is given back before this
// returns.

import { isSendenseError, SendenseError } from '../../src/errors.js';
import { inTurns } from '../../src/hub/in-turns.js';
import { TokenBucket } from '../../src/rate/token-bucket.js';
import { DEFAULT_TUNING, copyDisk, type CopyTuning, type DiskJob } from './copy-disk.js';
import { startDigester } from './digest-thread.js';
import { localCopy, qemuCopyDisk } from './qemu-copy.js';
import type { DiskOutcome, TransferRequest } from '../../src/wire/index.js';
import { TransferOutput } from './transfer-output.js';
import { openTransferDir } from './transfer-dir.js';

export interface RunOptions {
  readonly writeLine: (line: string) => void;
  readonly signal: AbortSignal;
  readonly tuning?: Partial<CopyTuning>;
  /** Where a bug's stack goes (stderr in the CLI). */
  readonly logBug?: (text: string) => void;
  /** The rate, changed while it runs (control lines on stdin in the CLI); default: fixed at the request's rate. */
  readonly bucket?: TokenBucket;
}

export async function transferDisks(
  request: TransferRequest,
  options: RunOptions,
): Promise<{ readonly ok: boolean; readonly disks: readonly DiskOutcome[] }> {
  const output = new TransferOutput(options.writeLine);
  const inFlight = request.inFlight ?? DEFAULT_TUNING.inFlight;
  const connections = request.connections ?? DEFAULT_TUNING.connections;
  const tuning: CopyTuning = {
    ...DEFAULT_TUNING,
    connections,
    inFlight,
    unansweredWrites: 2 * inFlight,
    digests: request.digests !== false,
    ...options.tuning,
  };
  const zeroHoles = request.zeroHoles === true;
  const dir = await openTransferDir();
  const digester = startDigester(() => output.debug({ message: 'digest thread started' }));
  const bucket = options.bucket ?? new TokenBucket(request.rate);
  try {
    const disks = await inTurns(
      request.disks.map((disk): DiskJob => ({
        ...disk,
        zeroHoles,
        ...(request.align !== undefined && { align: request.align }),
      })),
      request.parallelDisks ?? request.disks.length,
      async (job): Promise<DiskOutcome> => {
        try {
          // A disk still waiting for its turn when the transfer is stopped does not start.
          if (options.signal.aborted)
            throw new SendenseError(`transfer stopped: ${String(options.signal.reason ?? 'stop requested')}`, {
              disk: job.key,
            });
          // A disk the hub marked for qemu-img (a local full into its new file, qemu-copy.ts); anything else over NBD.
          const local = await localCopy(job);
          if (local !== undefined)
            return await qemuCopyDisk(job, local, tuning, { output, signal: options.signal, digester });
          return await copyDisk(job, tuning, { dir: dir.path, output, signal: options.signal, digester, bucket });
        } catch (error) {
          const message = isSendenseError(error)
            ? error.message
            : `internal error: ${error instanceof Error ? error.message : String(error)}`;
          if (!isSendenseError(error))
            options.logBug?.(error instanceof Error && error.stack ? error.stack : String(error));
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
    await digester.close();
    await dir.close();
  }
}
