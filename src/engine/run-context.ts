// What every step of a run shares: the plan, where state lives, where commands run, how to
// report, how to give back what was taken, and the signal that cancels the run.

import type { NodeHost } from '../node/node.js';
import type { PointFile } from '../files/backup-point.js';
import type { BackupPlan, DiskKey, DiskRestorePlan, FilesRestorePlan, Plan } from '../plan/types.js';
import type { DiskSource, SupersededBitmap } from '../source/index.js';
import type { Store } from '../store/index.js';
import type { EarlyTransfer, WrittenRanges } from '../transfer/run-transfer.js';
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
  /** Our node transfer, started while the steps before it run (backups on this host). */
  readonly earlyTransfer?: EarlyTransfer;
}

export type { DiskSource };

/**
 * One disk's qemu-nbd on the hub. start-qemu-nbd starts those of the disks copied first; when a
 * run's disks take turns within its hub slots, the others start when their turn comes and each
 * stops once its disk is done, so no more are running than disks in transfer (SPEC section 12).
 */
export interface DiskServer {
  /** Starts it unless it is running; true when this call started it. */
  start(): Promise<boolean>;
  /** Stops it before cleanup does (idempotent), e.g. to resize its file. */
  stop(): Promise<void>;
}

/** One disk of a backup run, filled in step by step. */
export interface BackupDiskJob {
  readonly key: DiskKey;
  readonly source: DiskSource;
  /** Decided by resolve-chain; a VMware full's is the size the client reports (transfer). */
  virtualSize: number;
  /** Absolute path of the new QCOW2 file in the repository. */
  readonly file: string;
  /** The parent backup's file (incremental only). */
  readonly parentFile?: string;
  /** change_id the transfer starts from (incremental only): a dirty bitmap name for qemu. */
  readonly fromChangeId?: string;
  /** change_id this backup captures (the new bitmap for qemu; reported by the client for vmware). */
  changeId?: string;
  readonly exportName: string;
  /** Leased by allocate-ports. */
  port?: number;
  /** The port that reaches it from the node (open-tunnel). */
  nodePort?: number;
  bytes?: number;
  /** Ranges the node transfer wrote, with digests (none from the VMware client): the manifest's. */
  written?: WrittenRanges;
  /** This disk's qemu-nbd on the hub (start-qemu-nbd). */
  server?: DiskServer;
}

/** What resolve-chain decided: the backup this run takes. */
export interface BackupState {
  readonly backupId: string;
  readonly chainId: string;
  readonly type: 'full' | 'incremental';
  readonly parentId?: string;
  readonly disks: readonly BackupDiskJob[];
  /** Bitmaps of earlier backups of these disks, removed once this backup is complete. */
  readonly supersededBitmaps: readonly SupersededBitmap[];
}

/** A run whose state its first step resolves (resolve-chain, resolve-point); the later steps rely on it. */
export interface Resolved<S> {
  /** Reading it before the resolving step set it is a bug, and throws as one. */
  state: S;
  /** Whether the resolving step got as far as setting the state. */
  readonly resolved: boolean;
}

export interface BackupRun extends RunContext<BackupPlan>, Resolved<BackupState> {}

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

/** A file-level restore run (target type files): which backup file, then the extraction. */
export interface FilesRestoreRun extends RunContext<FilesRestorePlan>, Resolved<FilesRestoreState> {}

/** What the files restore's resolve-point decided: the one backup file whose files are read. */
export interface FilesRestoreState {
  readonly backupId: string;
  readonly point: PointFile;
}

/** A disk of a run once allocate-ports leased its port: what the later steps rely on. */
export type Leased<D> = D & { readonly port: number };

// The run's disks as the steps after allocate-ports see them: each with its port (a missing one is a bug).
export function leasedDisks<D extends { readonly key: DiskKey; readonly port?: number }>(disks: readonly D[]): readonly Leased<D>[] {
  for (const disk of disks) if (disk.port === undefined) throw new Error(`disk ${disk.key} has no leased port: allocate-ports has not run`);
  return disks as readonly Leased<D>[];
}

// The run of a plan kind, its state to be set by the kind's resolving step.
export function unresolvedRun<C extends RunContext, S>(base: C, resolver: string): C & Resolved<S> {
  let state: S | undefined;
  return Object.defineProperties(
    { ...base },
    {
      state: {
        get() {
          if (state === undefined) throw new Error(`the run's state was read before ${resolver} resolved it`);
          return state;
        },
        set(value: S) {
          state = value;
        },
        enumerable: true,
      },
      resolved: { get: () => state !== undefined, enumerable: true },
    },
  ) as C & Resolved<S>;
}
