// The seam between the backup steps and what is backed up (docs/how-it-works.md#change-tracking-by-source): one module per source
// type (qemu-source.ts, nbd-source.ts, vmware-source.ts, libvirt-source.ts) behind these facets
// (inspection, change tracking, snapshot, reads), so a step never asks which source it reads.

import { SendenseError } from '../errors.js';
import type { Facts } from '../engine/step-facts.js';
import type { UndoWhen } from '../engine/undo-stack.js';
import type { NodeExec } from '../libvirt/virsh.js';
import type { DiskKey } from '../plan/types.js';
import type { Backup, BackupDisk } from '../store/index.js';
import type { TransferDiskResult } from '../transfer/run-transfer.js';
import type { TransferProgram, TransferReads } from '../transfer/transfer-plan.js';
import type { DiskSource, SourceDiskFacts } from './source-disk.js';

/**
 * The source refused, at the snapshot, to continue the chain from a disk's change id (VMware: the
 * change id rejected by QueryChangedDiskAreas). The backup run is taken again at once, and
 * `whyNotIncremental` then names this disk, so the second attempt is a warned full into a new chain
 * (docs/vmware.md#a-change-id-vsphere-rejects).
 */
export class ChainRefusedAtSnapshot extends SendenseError {}

/** What the source needs to know of one disk of a backup run. */
export interface SourceDiskJob {
  readonly key: DiskKey;
  readonly source: DiskSource;
  readonly file: string;
  /** Its virtual size as resolve-chain read it: what the backup records (a qemu bitmap's mark lies at its last byte). */
  readonly virtualSize: number;
  /** change_id the transfer starts from (incremental only). */
  readonly fromChangeId?: string;
  /** The parent's virtual size, where a qemu bitmap's mark lies (incremental only). */
  readonly fromSize?: number;
  /** change_id this backup captures. */
  readonly changeId?: string;
}

/** A bitmap of an earlier backup, removed once this backup is complete. */
export interface SupersededBitmap {
  readonly key: DiskKey;
  readonly path: string;
  readonly name: string;
}

/** What inspecting the source found: its disks, and what the run should say of the VM as a whole. */
export interface SourceInspectionResult {
  readonly disks: readonly SourceDiskFacts[];
  /** Said as info lines (a domain's state, the disks skipped and why). */
  readonly notes: readonly string[];
  /** The VM's own definition, stored with the backup (a libvirt domain's XML). */
  readonly definition?: string;
}

/** What snapshot-source and record-change-ids hand a source: where to run, and how to register what it takes. */
export interface SnapshotContext {
  readonly exec: NodeExec;
  readonly runId: string;
  readonly backupId: string;
  /** Undo is data: registered the moment something is taken (docs/how-it-works.md#the-data-path). */
  takes(what: string, when: UndoWhen, undo: () => Promise<void>): void;
  /** Recorded in the state database before it is taken, so doctor finds it after a kill -9; forgotten once given back. */
  record(kind: string, name: string, facts: Readonly<Record<string, unknown>>): Promise<void>;
  forget(kind: string, name: string): Promise<void>;
  /** A libvirt domain the source takes checkpoints on: kept for good, so `checkpoints`, forget and doctor find them (docs/how-it-works.md#checkpoints-on-a-domain). */
  rememberCheckpointDomain(uri: string, domain: string): Promise<void>;
  /** Gives back what runs that are over or dead recorded on the node (`match`: the source's own), as doctor would; says what it did. */
  giveBackLeftovers(
    match: (kind: string, facts: Readonly<Record<string, unknown>>) => boolean,
  ): Promise<readonly string[]>;
  warn(message: string): void;
  info(message: string): void;
  /** Starts a program on the node whose stdin is its lifeline (the guest-thaw watchdog). */
  spawn(argv: readonly string[]): { write(text: string): void; stop(): Promise<void> };
}

/** What snapshot-source did: its summary line, --json facts and a note for the run's history. */
export interface SnapshotResult {
  readonly summary: string;
  readonly facts?: Facts;
  readonly note?: string;
}

/** Inspect: what the source's disks are, read before anything is decided (every source has it). */
export interface SourceInspection {
  /** Refuses a source that cannot be read at all (a missing vCenter password) before anything is taken. */
  checkReady(): void;
  /**
   * Size, format and change tracking of every disk, read on the node (`previous`: the backup an
   * incremental would build on, whose change tracking is checked); a disk that cannot be backed up is one clear error.
   */
  inspect(exec: NodeExec, previous: Backup | undefined): Promise<SourceInspectionResult>;
  /** The disks as the plan names them, not inspected (a dry run does not contact a remote node). */
  uninspected(): readonly SourceDiskFacts[];
  /**
   * True when inspect asks a service from the hub and never the node (vSphere's API): a dry run
   * with a remote node still inspects, from the same code as the run.
   */
  readonly inspectsFromHub?: boolean;
  /** False when the disk's size is known only once the transfer reports it (VMware). */
  readonly sizeKnownBeforeTransfer: boolean;
  /** Virtual size of the new image. */
  newImageSize(fact: SourceDiskFacts, parentDisk: BackupDisk | undefined): number;
  /** qemu-img create -o options of a full's new image. */
  readonly fullImageOptions?: readonly string[];
  /** The source of a disk as the backup records it: a path, a URL. */
  label(disk: SourceDiskJob): string;
}

/** Change tracking: what lets an incremental read only what changed (a source without it backs up full every time). */
export interface SourceChangeTracking {
  /** Why this disk cannot continue the chain of `previous` exactly (source-specific rules), if so. */
  whyNotIncremental(fact: SourceDiskFacts, parentDisk: BackupDisk, previous: Backup): string | undefined;
  /** The change_id this backup records, when known before the transfer. */
  newChangeId(fact: SourceDiskFacts, chainId: string, backupId: string): string | undefined;
  /** The bitmap this backup adds on the source (doctor removes it if the run dies); none when not ours. */
  addedBitmap(disk: SourceDiskJob): string | undefined;
  /** Bitmaps of `previous` on these disks that no incremental will start from once this backup is complete. */
  supersededBitmaps(previous: Backup | undefined, facts: readonly SourceDiskFacts[]): SupersededBitmap[];
  /** Records the change tracking this backup supersedes before it is complete, so doctor removes it if the run dies before it does. */
  recordSuperseded?(superseded: readonly SupersededBitmap[], context: SnapshotContext): Promise<void>;
  /** Removes change tracking no incremental will start from, once this backup is complete. */
  releaseSuperseded(superseded: readonly SupersededBitmap[], context: SnapshotContext): Promise<void>;
}

/** Snapshot: the backup's one point in time, taken on every disk at once (a source read as it lies has none). */
export interface SourceSnapshot {
  /** What snapshot-source is about to do, in one line (its title). */
  readonly snapshotTitle: string;
  /** Why snapshot-source has nothing to do, if so (the run's words). */
  whyNoSnapshot(disks: readonly SourceDiskJob[]): string | undefined;
  /** What snapshot-source would do, for --dry-run. */
  describeSnapshot(disks: readonly SourceDiskJob[]): string;
  /** Takes this backup's point in time on every disk at once, registering how to give back what it takes. */
  snapshot(disks: readonly SourceDiskJob[], context: SnapshotContext): Promise<SnapshotResult>;
}

/** Reads: how the transfer reads the disks (every source has it). */
export interface SourceReads {
  /** Where a disk is read from, for --dry-run: "disk 2000: /vms/d0.qcow2, dirty bitmap …". */
  describeRead(disk: SourceDiskJob, incremental: boolean, vm: string): string;
  /**
   * How the transfer reads these disks: each disk's read by our node transfer (transfer-plan.ts adds
   * the targets), or the VMware client's argv, which takes `targets` (each disk's NBD target URL as the node reaches it).
   */
  transferReads(
    disks: readonly SourceDiskJob[],
    incremental: boolean,
    jobId: string,
    targets: ReadonlyMap<DiskKey, string>,
  ): TransferReads;
  /** Which program copies its disks: our node transfer, or another (the VMware client). */
  readonly transfersWith: TransferProgram['kind'];
  /**
   * Whether a run can give the transfer its disks a few at a time, within the hub's slots: our
   * node transfer copies the disks it is given; the VMware client takes the whole VM at once.
   */
  readonly takesTurns: boolean;
  /** Whether the transfer holds to the run's rate (docs/bandwidth.md): our node transfer does; the VMware client takes none. */
  readonly takesRate: boolean;
  /** Whether the transfer reports digests of what it wrote (our node transfer does; the VMware client does not). */
  readonly reportsDigests: boolean;
  /**
   * Whether a full of this disk on the hub's own host can go straight into its new file, copied by
   * qemu-img, with no qemu-nbd on the hub (docs/how-it-works.md#a-local-full-backup): an image file
   * whose guest bytes lie in it as they are (the qemu source). Absent: never.
   */
  copiesFile?(disk: SourceDiskJob): boolean;
  /** What the transfer's results (or, for `runId`, the snapshot) tell about each disk (VMware: its change id and size); absent: nothing. */
  adoptResults?(
    results: readonly TransferDiskResult[],
    keys: readonly DiskKey[],
    full: boolean,
    runId?: string,
  ): TransferAdoption[];
}

/** What a type of source implements (its definition's `open`): inspection and reads always, change tracking and a snapshot if it has them. */
export interface SourceFacets {
  readonly inspection: SourceInspection;
  readonly changeTracking?: SourceChangeTracking;
  readonly snapshot?: SourceSnapshot;
  readonly reads: SourceReads;
}

/** A run's reader of a source, every facet present (./source-facets.ts fills what a source does not have). */
export type BackupSource = SourceInspection &
  SourceChangeTracking &
  SourceSnapshot &
  Omit<SourceReads, 'adoptResults'> &
  Required<Pick<SourceReads, 'adoptResults'>>;

/** What a source learns from the transfer's results (VMware: each disk's change id and size). */
export interface TransferAdoption {
  readonly key: DiskKey;
  readonly changeId?: string;
  /** The image must be cut to this size (its qemu-nbd stopped first). */
  readonly shrinkTo?: number;
}
