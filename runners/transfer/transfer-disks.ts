// Runs every disk of a transfer in parallel and reports one result per disk; whatever a disk
// took (qemu-nbd, connections, the temp dir) is given back before this returns.

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

export async function transferDisks(args: TransferArgs, options: RunOptions): Promise<{ readonly ok: boolean; readonly disks: readonly DiskOutcome[] }> {
  const output = new TransferOutput(options.writeLine);
  const tuning: CopyTuning = { ...DEFAULT_TUNING, connections: args.connections, ...options.tuning };
  const dir = mkdtempSync(join(tmpdir(), 'sendense-transfer-'));
  try {
    const disks = await Promise.all(
      args.disks.map(async (job): Promise<DiskOutcome> => {
        try {
          return await copyDisk(job, tuning, dir, output, options.signal);
        } catch (error) {
          const message = isSendenseError(error) ? error.message : `internal error: ${error instanceof Error ? error.message : String(error)}`;
          if (!isSendenseError(error)) options.logBug?.(error instanceof Error && error.stack ? error.stack : String(error));
          output.error(job.key, message);
          return { disk: job.key, ok: false, error: message };
        }
      }),
    );
    const ok = disks.every((disk) => disk.ok);
    output.debug({ message: 'peak memory', maxRssBytes: process.resourceUsage().maxRSS * 1024 });
    output.result(ok, disks);
    return { ok, disks };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
