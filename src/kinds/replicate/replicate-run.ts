// A replicate run (one sync): what resolve-sync decides and each later step fills in, disk by disk.

import type { Resolved, RunContext } from '../../engine/run-context.js';
import type { Facts } from '../../engine/step-facts.js';
import type { NodeHost } from '../../node/node.js';
import type { ReplicatePlan } from '../../plan/types.js';
import type { HubRelay, ReplicaNbd } from '../../replica/replica-nbd.js';
import type { SupersededBitmap } from '../../source/index.js';
import type { EarlyTransfer } from '../../transfer/run-transfer.js';
import type { BackupDiskJob } from '../backup/backup-run.js';

/** One disk of a sync: the source read as a backup reads it, written into a new layer on the replica node. */
export interface ReplicaDiskJob extends BackupDiskJob {
  /** replica.path for this disk: the newest point once this sync is installed. */
  readonly replicaPath: string;
  /** This point's own layer (also `file`): written through the relay, then installed at replicaPath. */
  readonly layer: string;
  /** The previous point's layer this one is backed by (incremental only). */
  readonly backingLayer?: string;
  /** Its qemu-nbd on the replica node and, for a replica node over SSH, the hub's relay to it (start-replica-nbd). */
  target?: { readonly nbd: ReplicaNbd; readonly relay?: HubRelay };
}

/** What resolve-sync decided: the point this sync makes. */
export interface SyncState {
  /** The new point's id (backupId: the change_ids are named after it, as a backup's are). */
  readonly backupId: string;
  readonly chainId: string;
  readonly type: 'full' | 'incremental';
  readonly parentId?: string;
  readonly disks: readonly ReplicaDiskJob[];
  readonly supersededBitmaps: readonly SupersededBitmap[];
  /** The VM's own definition (a libvirt domain's XML), for the replica domain. */
  readonly definition?: string;
  snapshotFacts?: Facts;
  /** When the source's point in time was taken (snapshot-source ran). */
  takenAt?: string;
}

export interface ReplicateRun extends RunContext<ReplicatePlan>, Resolved<SyncState> {
  /** Where the replica lives: this host, or its node over SSH (a second link besides the source node's). */
  readonly replicaNode: NodeHost;
  readonly earlyTransfer?: EarlyTransfer;
  readonly wholeVm: boolean;
}
