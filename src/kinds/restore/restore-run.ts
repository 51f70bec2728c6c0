// A restore of whole disks (file, NBD or domain targets): what resolve-point decides and each later step
// fills in, and the destination it writes to (src/restore/targets/).

import type { Resolved, RunContext } from '../../engine/run-context.js';
import type { DiskRestorePlan } from '../../plan/types.js';
import type { ServedDisk } from '../../steps/serving-run.js';
import type { RestoreDiskTarget, TargetDisk } from '../../restore/targets/index.js';
import type { WrittenRanges } from '../../transfer/run-transfer.js';

/** One disk of a restore run: the point's file served read-only on the hub, written into its target. */
export interface RestoreDiskJob extends ServedDisk, TargetDisk {
  /** The chosen backup's file on the hub (reads through its backing chain). */
  readonly file: string;
  bytes?: number;
  /** Ranges the node transfer wrote into the target, with digests of what it read from the chain. */
  written?: WrittenRanges;
}

/** What resolve-point decided: the backup restored and its disks. */
export interface RestoreState {
  readonly backupId: string;
  readonly disks: readonly RestoreDiskJob[];
}

export interface RestoreRun extends RunContext<DiskRestorePlan>, Resolved<RestoreState> {
  /** Where the disks go: the steps ask it, never which kind of target it is. */
  readonly target: RestoreDiskTarget;
}
