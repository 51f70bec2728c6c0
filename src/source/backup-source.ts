// The seam between the backup steps and what is backed up (docs/how-it-works.md#change-tracking-by-source): one module per source
// type (qemu-source.ts, nbd-source.ts, vmware-source.ts) behind this interface, so a step never
// asks which source it reads.

import type { DiskKey } from '../plan/types.js';
import type { CommandRunner } from '../qemu/index.js';
import type { Backup, BackupDisk } from '../store/index.js';
import type { TransferDiskResult, TransferProgram } from '../transfer/run-transfer.js';
import type { DiskSource, SourceDiskFacts } from './source-disk.js';

/** What the source needs to know of one disk of a backup run. */
export interface SourceDiskJob {
  readonly key: DiskKey;
  readonly source: DiskSource;
  readonly file: string;
  /** change_id the transfer starts from (incremental only). */
  readonly fromChangeId?: string;
  /** change_id this backup captures. */
  readonly changeId?: string;
}

/** A bitmap of an earlier backup, removed once this backup is complete. */
export interface SupersededBitmap {
  readonly key: DiskKey;
  readonly path: string;
  readonly name: string;
}

/** A source's point in time, taken on one disk: what was added and how to take it back. */
export interface SnapshotTaken {
  readonly what: string;
  readonly undoWhat: string;
  readonly undo: () => Promise<void>;
}

export interface BackupSource {
  /** Refuses a source that cannot be read at all (a missing vCenter password) before anything is taken. */
  checkReady(): void;
  /** Size, format and change tracking of one disk, read on the node; a disk that cannot be backed up is one clear error. */
  inspect(exec: CommandRunner, key: DiskKey): Promise<SourceDiskFacts>;
  /** One disk as the plan names it, not inspected (a dry run does not contact a remote node). */
  uninspected(key: DiskKey): SourceDiskFacts;
  /** False when the disk's size is known only once the transfer reports it (VMware). */
  readonly sizeKnownBeforeTransfer: boolean;
  /** Why this disk cannot continue the chain of `previous` exactly (source-specific rules), if so. */
  whyNotIncremental(fact: SourceDiskFacts, parentDisk: BackupDisk, previous: Backup): string | undefined;
  /** Virtual size of the new image. */
  newImageSize(fact: SourceDiskFacts, parentDisk: BackupDisk | undefined): number;
  /** qemu-img create -o options of a full's new image. */
  readonly fullImageOptions?: readonly string[];
  /** The change_id this backup records, when known before the transfer. */
  newChangeId(fact: SourceDiskFacts, chainId: string, backupId: string): string | undefined;
  /** The bitmap this backup adds on the source (doctor removes it if the run dies); none when not ours. */
  addedBitmap(disk: SourceDiskJob): string | undefined;
  /** Bitmaps of `previous` on these disks that no incremental will start from once this backup is complete. */
  supersededBitmaps(previous: Backup | undefined, facts: readonly SourceDiskFacts[]): SupersededBitmap[];
  /** The source of a disk as the backup records it: a path, a URL. */
  label(disk: SourceDiskJob): string;
  /** Where a disk is read from, for --dry-run: "disk 2000: /vms/d0.qcow2, dirty bitmap …". */
  describeRead(disk: SourceDiskJob, incremental: boolean, vm: string): string;
  /** Why snapshot-source has nothing to do, if so (the run's words). */
  whyNoSnapshot(disks: readonly SourceDiskJob[]): string | undefined;
  /** What snapshot-source would do, for --dry-run. */
  describeSnapshot(disks: readonly SourceDiskJob[]): string;
  /** Takes this backup's point in time on one disk (nothing for a disk with no change tracking). */
  snapshot(disk: SourceDiskJob, exec: CommandRunner): Promise<SnapshotTaken | undefined>;
  /** The program the transfer step runs and its arguments; `targets`: each disk's NBD target URL as the node reaches it. */
  transferProgram(disks: readonly SourceDiskJob[], incremental: boolean, targets: ReadonlyMap<DiskKey, string>, jobId: string): TransferProgram;
  /**
   * Whether a run can give the transfer its disks a few at a time, within the hub's slots: our
   * node transfer copies the disks it is given; the VMware client takes the whole VM at once.
   */
  readonly takesTurns: boolean;
  /** Whether the transfer reports digests of what it wrote (our node transfer does; the VMware client does not). */
  readonly reportsDigests: boolean;
  /** What the transfer's results tell about each disk (VMware: its change id and size); nothing for our node transfer. */
  adoptResults(results: readonly TransferDiskResult[], keys: readonly DiskKey[], full: boolean): TransferAdoption[];
}

/** What a source learns from the transfer's results (VMware: each disk's change id and size). */
export interface TransferAdoption {
  readonly key: DiskKey;
  readonly changeId?: string;
  /** The image must be cut to this size (its qemu-nbd stopped first). */
  readonly shrinkTo?: number;
}
