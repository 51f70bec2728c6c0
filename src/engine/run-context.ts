// What every step of a run shares: the plan, where state lives, where commands run, how to
// report, how to give back what was taken, and the signal that cancels the run.

import type { NodeHost } from '../node/node.js';
import type { PointFile } from '../files/backup-point.js';
import type { BackupPlan, DiskKey, DiskRestorePlan, FilesRestorePlan, Plan } from '../plan/types.js';
import type { Store } from '../store/index.js';
import type { WrittenRanges } from '../transfer/run-transfer.js';
import type { RunReporter } from './run-events.js';
import type { UndoStack } from './undo-stack.js';
import type { DiskSlots } from '../hub/disk-queue.js';

export interface RunContext<P extends Plan = Plan> {
  readonly plan: P;
  readonly runId: string;
  readonly store: Store;
  readonly node: NodeHost;
  readonly reporter: RunReporter;
  readonly undo: UndoStack;
  /** Hub disk slots this run holds (SPEC section 12); none = no hub limits. */
  readonly diskSlots?: DiskSlots;
  /** Aborted on SIGINT/SIGTERM, a step timeout or a qemu-nbd dying mid-run. */
  readonly signal: AbortSignal;
  /** Abort the run from inside (e.g. a qemu-nbd died); the reason becomes the run's error. */
  readonly abort: (reason: Error) => void;
}

/** The source of one disk as the node transfer will read it. */
export type DiskSource =
  | { readonly type: 'qemu'; readonly path: string; readonly format: 'qcow2' | 'raw' }
  | { readonly type: 'nbd'; readonly url: string; readonly bitmap?: string }
  | { readonly type: 'vmware' };

/** One disk of a backup run, filled in step by step. */
export interface BackupDiskJob {
  readonly key: DiskKey;
  readonly source: DiskSource;
  virtualSize: number;
  /** Absolute path of the new QCOW2 file in the repository. */
  file: string;
  /** The parent backup's file (incremental only). */
  parentFile?: string;
  /** change_id the transfer starts from (incremental only): a dirty bitmap name for qemu. */
  fromChangeId?: string;
  /** change_id this backup captures (the new bitmap for qemu; reported by the client for vmware). */
  changeId?: string;
  exportName: string;
  port?: number;
  nodePort?: number;
  bytes?: number;
  /** Ranges the node transfer wrote, with digests (none from the VMware client): the manifest's. */
  written?: WrittenRanges;
  /** Stops this disk's qemu-nbd before cleanup does (idempotent), e.g. to resize its file. */
  stopServer?: () => Promise<void>;
}

export interface BackupState {
  backupId: string;
  chainId: string;
  type: 'full' | 'incremental';
  parentId?: string;
  disks: BackupDiskJob[];
  /** Bitmaps of earlier backups of these disks, removed once this backup is complete. */
  supersededBitmaps: { readonly key: DiskKey; readonly path: string; readonly name: string }[];
}

export interface BackupRun extends RunContext<BackupPlan> {
  state: BackupState;
}

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
  /** Stops this disk's qemu-nbd before cleanup does (idempotent). */
  stopServer?: () => Promise<void>;
}

export interface RestoreState {
  backupId: string;
  disks: RestoreDiskJob[];
}

export interface RestoreRun extends RunContext<DiskRestorePlan> {
  state: RestoreState;
}

/** A file-level restore run (target type files): which backup file, then the extraction. */
export interface FilesRestoreRun extends RunContext<FilesRestorePlan> {
  state: { backupId: string; point?: PointFile };
}
