// A restore of whole disks (file or NBD targets): what resolve-point decides and each later step fills in.

import type { Resolved, RunContext, DiskServer } from '../../engine/run-context.js';
import type { DiskKey, DiskRestorePlan } from '../../plan/types.js';
import type { WrittenRanges } from '../../transfer/run-transfer.js';

/** One disk of a restore run. */
export interface RestoreDiskJob {
  readonly key: DiskKey;
  /** The chosen backup's file on the hub (reads through its backing chain). */
  readonly file: string;
  readonly virtualSize: number;
  exportName: string;
  port?: number;
  nodePort?: number;
  /** Target as the node transfer takes it: nbd URL or file:FORMAT:/path. */
  target?: string;
  /** Where the restore writes on the node (file targets): a file beside the target, renamed into place by place-target. */
  targetPath?: string;
  /** The target file as the plan names it (file targets). */
  finalPath?: string;
  bytes?: number;
  /** Ranges the node transfer wrote into the target, with digests of what it read from the chain. */
  written?: WrittenRanges;
  /** This disk's qemu-nbd on the hub (start-qemu-nbd). */
  server?: DiskServer;
}

/** What resolve-point decided: the backup restored and its disks. */
export interface RestoreState {
  readonly backupId: string;
  readonly disks: readonly RestoreDiskJob[];
}

export interface RestoreRun extends RunContext<DiskRestorePlan>, Resolved<RestoreState> {}
