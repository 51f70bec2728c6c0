// A backup or incremental run: what resolve-chain decides and each later step fills in, disk by disk.

import type { Resolved, RunContext } from '../../engine/run-context.js';
import type { Facts } from '../../engine/step-facts.js';
import type { BackupPlan, ReplicatePlan } from '../../plan/types.js';
import type { ServedDisk } from '../../steps/serving-run.js';
import type { DiskSource, SupersededBitmap } from '../../source/index.js';
import type { ChangeSample, EarlyTransfer, WrittenRanges } from '../../transfer/run-transfer.js';

/** One disk of a backup run, filled in step by step: its new file served on the hub (ServedDisk). */
export interface BackupDiskJob extends ServedDisk {
  readonly source: DiskSource;
  /** Decided by resolve-chain; a VMware full's is the size the client reports (transfer). */
  virtualSize: number;
  /** The parent backup's file (incremental only). */
  readonly parentFile?: string;
  /** change_id the transfer starts from (incremental only): a dirty bitmap name for qemu. */
  readonly fromChangeId?: string;
  /** The parent's virtual size (incremental only): where a qemu bitmap's mark lies (qemu/bitmaps.ts). */
  readonly fromSize?: number;
  /** change_id this backup captures (the new bitmap for qemu; reported by the client for vmware). */
  changeId?: string;
  bytes?: number;
  /** Ranges the node transfer wrote, with digests (none from the VMware client): the manifest's. */
  written?: WrittenRanges;
  /** How random the changed data is, sampled where it was read (docs/anomaly.md#what-is-measured). */
  sample?: ChangeSample;
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
  /** The VM's own definition (a libvirt domain's XML), stored with the backup. */
  readonly definition?: string;
  /** What snapshot-source reports besides the change_ids (a guest's freeze time). */
  snapshotFacts?: Facts;
  /** Why anomaly-check marked the new point suspect (docs/anomaly.md); undefined: it did not. */
  suspect?: string;
}

/** What snapshot-source and transfer need of a run that reads a VM's source: a backup, a replica's sync. */
export interface SourceReadState {
  /** The backup (or replica point) this run makes: its change_ids are named after it. */
  readonly backupId: string;
  readonly type: 'full' | 'incremental';
  readonly disks: readonly BackupDiskJob[];
  snapshotFacts?: Facts;
}

export interface SourceRun extends RunContext<BackupPlan | ReplicatePlan>, Resolved<SourceReadState> {
  readonly earlyTransfer?: EarlyTransfer;
  readonly wholeVm: boolean;
}

export interface BackupRun extends RunContext<BackupPlan>, Resolved<BackupState> {
  /** Our node transfer, started while the steps before it run (backups on this host). */
  readonly earlyTransfer?: EarlyTransfer;
  /** The source's transfer takes the whole VM at once (the VMware client): its disks never take turns in the hub's slots. */
  readonly wholeVm: boolean;
}
