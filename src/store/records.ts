// What the store hands out: frozen camelCase records, independent of the SQL dialect.

import type { DiskKey, NodeSpec, PlanKind } from '../plan/types.js';

/**
 * A plan's kind, or a command that records its work as a run (verify, catalog import, prune, forget,
 * doctor's merges, serve, failover, failback; files and mount only on an encrypted point, whose qemu-nbd is
 * recorded under the run: files/point-drive.ts).
 */
export type RunKind =
  | PlanKind
  | 'verify'
  | 'catalog-import'
  | 'prune'
  | 'forget'
  | 'retire'
  | 'serve'
  | 'failover'
  | 'failback'
  | 'files'
  | 'mount';
/** api: started through the HTTP API (docs/api.md), by the run's actor. */
export type RunTrigger = 'manual' | 'schedule' | 'api';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted' | 'skipped' | 'refused';
export type BackupType = 'full' | 'incremental';
/** damaged: verify found its data differs from its manifests (or a parent's did): never restorable, never a parent. */
export type BackupStatus = 'running' | 'complete' | 'failed' | 'damaged';
/** running: being written; installing: every disk written, becoming the newest point (doctor finishes it); complete: a point; failed: never a point (its layers removed); folding: being folded into the next point (no longer offered); folded: gone. */
export type ReplicaPointStatus = 'running' | 'installing' | 'complete' | 'failed' | 'folding' | 'folded';

export interface Run {
  readonly id: string;
  readonly plan: string;
  readonly kind: RunKind;
  readonly trigger: RunTrigger;
  readonly status: RunStatus;
  /** ISO-8601 UTC. */
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly error: string | null;
  readonly pid: number | null;
  readonly hostname: string | null;
  readonly planFile: string | null;
  /** The backup this run created (backup/incremental runs). */
  readonly backupId: string | null;
  /** Seconds it waited in the hub's queue for disk slots (null: it did not queue). */
  readonly queuedSeconds: number | null;
  /** Seconds it waited for its VM while another plan's run held it (plan key busy); null: it did not wait. */
  readonly vmWaitSeconds: number | null;
  /** The hub that ran it (hub config name, else host name); null for runs before 009. */
  readonly hub: string | null;
  /** The scheduled fire it belongs to (plan@time), when the schedule is shared by hubs. */
  readonly fire: string | null;
  /** trigger api: the name of the token that started it (docs/api.md). */
  readonly actor: string | null;
  /** What its history line adds besides status and error (verify: damage marks cleared). */
  readonly note: string | null;
  /** Bytes it moved (sent by a backup, sync or copy; restored), as recorded when it ended; null: none recorded. */
  readonly bytes: number | null;
  /** The kind of point it took (backups, syncs), as it ended: a later merge never changes it. */
  readonly taken: BackupType | null;
  /** A failed run an operator acknowledged (`ack RUN`, docs/operations.md#acknowledging-failures): who; null otherwise. */
  readonly acknowledgedBy: string | null;
  readonly acknowledgedAt: string | null;
}

/** What a run records as it ends, once (docs/commands.md#history); undefined fields are left as they are. */
export interface RunRecord {
  /** The backup it made (backups, syncs) or read (restores). */
  readonly backupId?: string;
  readonly taken?: BackupType;
  readonly bytes?: number | null;
}

/** A point retention took away: merged into `mergedInto` (its data lives on there), or removed (null). */
export interface DroppedPoint {
  readonly backupId: string;
  readonly mergedInto: string | null;
  readonly droppedAt: string;
}

/** A run waiting for (granted 0) or holding hub disk slots. */
export interface DiskSlot {
  readonly runId: string;
  readonly plan: string;
  readonly wanted: number;
  readonly granted: number;
  readonly queuedAt: string;
  readonly grantedAt: string | null;
  readonly pid: number;
  readonly hostname: string;
  readonly hub: string | null;
}

export interface BackupDisk {
  readonly backupId: string;
  readonly diskKey: DiskKey;
  /** Absolute path of this backup's qcow2 in the repository. */
  readonly file: string;
  readonly virtualSize: number;
  /** Where the next incremental starts (qemu: the bitmap name; vmware: the CBT change id). */
  readonly changeId: string | null;
  readonly bytes: number | null;
  readonly status: BackupStatus;
  /** Node-side path or URL of the source disk. */
  readonly source: string;
  /** The node it was read on (NodeHost.id): 'this host' or user@host:port. */
  readonly sourceNode: string;
  /** Bitmap this backup added on the source (removed again if the backup fails). */
  readonly bitmap: string | null;
  /** Written with a manifest beside it: a missing manifest is damage, not an old backup. */
  readonly manifest: boolean;
  /** How random the changed data was (docs/anomaly.md#what-is-measured); null: not measured. */
  readonly sample: ChangeSampleRecord | null;
}

/**
 * What a listing shows of a layer, recorded when it is written, merged, verified or moved
 * (026-layer-facts, docs/how-it-works.md#what-a-listing-reads), so a listing opens no file.
 */
export interface LayerFacts {
  /** Space its file takes (allocated blocks); null: the file was not there. */
  readonly onDiskBytes: number | null;
  /** It lies in an encrypted repository. */
  readonly encrypted: boolean;
  /** The backing file its header names; null: none (a full) or the header unreadable. */
  readonly backing: string | null;
  /** What is wrong with its file's header; null: sound. */
  readonly headerProblem: string | null;
}

/** One layer's facts, as recorded. */
export interface RecordedLayerFacts extends LayerFacts {
  readonly backupId: string;
  readonly diskKey: DiskKey;
  readonly recordedAt: string;
}

/** An incremental's figures, its disks added up (docs/anomaly.md#when-a-point-is-suspect). */
export interface PointFiguresRecord {
  readonly backupId: string;
  readonly vm: string;
  readonly repository: string;
  readonly takenAt: string;
  readonly changedBytes: number;
  readonly sampledBlocks: number;
  readonly incompressibleBlocks: number;
}

/** One check of a drill as it went (docs/drills.md#checks). */
export interface DrillCheckResult {
  readonly check: string;
  readonly status: 'passed' | 'failed' | 'skipped';
  readonly seconds: number;
  /** What it found, or why it failed or was skipped. */
  readonly detail: string;
}

/** A drill's record (docs/drills.md#what-a-drill-records). */
export interface DrillRecord {
  readonly runId: string;
  readonly plan: string;
  readonly vm: string;
  readonly repository: string;
  readonly backupId: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly outcome: 'passed' | 'failed';
  /** Seconds from the start of the domain to it running (boot), and to its heartbeat. */
  readonly bootSeconds: number | null;
  readonly heartbeatSeconds: number | null;
  readonly checks: readonly DrillCheckResult[];
  /** Base64 PNG. */
  readonly screenshotPng: string | null;
  readonly consoleTail: string | null;
}

/** 64 KiB blocks of a disk's copied data sampled, and how many did not compress. */
export interface ChangeSampleRecord {
  readonly sampledBlocks: number;
  readonly incompressibleBlocks: number;
}

export interface Backup {
  readonly id: string;
  readonly vm: string;
  readonly plan: string;
  readonly type: BackupType;
  readonly chainId: string;
  readonly parentId: string | null;
  readonly status: BackupStatus;
  readonly repository: string;
  readonly startedAt: string;
  readonly completedAt: string | null;
  readonly bytes: number | null;
  readonly runId: string;
  /** When verify last checked it against its manifests (ISO-8601 UTC). */
  readonly verifiedAt: string | null;
  /** What verify found when status is 'damaged'. */
  readonly damage: string | null;
  /** Protected by the operator: never merged or removed by retention or forget. */
  readonly protected: boolean;
  /** Why it is suspect, in numbers (docs/anomaly.md#when-a-point-is-suspect); null: not suspect. */
  readonly suspect: string | null;
  /** Who cleared the suspect mark and when (`sendense-run clear`); null: not cleared. */
  readonly suspectClearedBy: string | null;
  readonly suspectClearedAt: string | null;
  /** The suspect point that keeps this clean point from retention and forget; null: none. */
  readonly heldBy: string | null;
  /** Ordered by disk key. */
  readonly disks: readonly BackupDisk[];
}

export interface PortLease {
  readonly port: number;
  readonly runId: string;
  readonly pid: number;
  readonly hostname: string;
  readonly since: string;
  readonly hub: string | null;
}

/** A file a run is still writing outside the repository (a restore target before its rename). */
export interface RunFile {
  readonly runId: string;
  /** 'this host', or the node as user@host:port. */
  readonly node: string;
  readonly path: string;
  /** e.g. "restore-target". */
  readonly kind: string;
  readonly since: string;
}

/** Something a run took on a node (a libvirt backup job, checkpoint, scratch directory, frozen guest), recorded before it is taken. */
export interface NodeResource {
  readonly runId: string;
  /** 'this host', or the node as user@host:port. */
  readonly node: string;
  /** 'guest-freeze' | 'backup-job' | 'scratch-dir' | 'checkpoint' | 'test-domain'. */
  readonly kind: string;
  /** What it is on the node: a domain, a directory, a checkpoint name (unique per node and kind). */
  readonly name: string;
  /** How to give it back (the domain, its URI, how to reach the node): never a secret. */
  readonly facts: Readonly<Record<string, unknown>>;
  readonly since: string;
}

export interface VmLock {
  readonly vm: string;
  readonly runId: string;
  readonly plan: string;
  readonly pid: number;
  readonly hostname: string;
  readonly since: string;
  readonly hub: string | null;
}

export interface ProcessRecord {
  readonly pid: number;
  readonly runId: string;
  /** e.g. "qemu-nbd". */
  readonly kind: string;
  readonly argv: readonly string[];
  readonly startedAt: string;
  /** /proc/PID/stat starttime: tells this process apart from a later one reusing the PID. */
  readonly startTicks: number;
}

/** A read-only FUSE mount of a backup point (sendense-run mount). */
export interface FileMount {
  /** Absolute mountpoint. */
  readonly dir: string;
  readonly vm: string;
  readonly backupId: string;
  readonly diskKey: number;
  /** The FUSE server (libguestfs agent) and its start time. */
  readonly serverPid: number;
  readonly serverStartTicks: number;
  /** The `sendense-run mount` process that unmounts it on exit. */
  readonly ownerPid: number;
  readonly ownerStartTicks: number;
  readonly hostname: string;
  readonly since: string;
}

/** A retention merge of a point into its child, recorded before any file is touched (docs/how-it-works.md#retention). */
export interface MergeRecord {
  readonly id: string;
  readonly vm: string;
  /** The point that goes. */
  readonly parentId: string;
  /** The point that takes its place, unchanged in content. */
  readonly childId: string;
  /** planned: no file touched yet; merging: files being changed. */
  readonly phase: 'planned' | 'merging';
  readonly runId: string;
  readonly since: string;
}

/** One disk of a replica point: this point's own qcow2 layer on the replica node. */
export interface ReplicaPointDisk {
  readonly pointId: string;
  readonly diskKey: DiskKey;
  /** The disk's path on the replica node (replica.path): the newest layer of its chain. */
  readonly path: string;
  /** This point's own layer file on the replica node. */
  readonly layer: string;
  readonly virtualSize: number;
  /** Where the next sync starts (as BackupDisk.changeId); null until the disk is complete. */
  readonly changeId: string | null;
  /** Bytes written into the layer; null until the disk is complete. */
  readonly bytes: number | null;
  /** Node-side path or URL of the source disk, as recorded. */
  readonly source: string;
}

/** A sync of a `replicate` plan: a new layer per disk on the replica node; the hub keeps only this record. */
export interface ReplicaPoint {
  readonly id: string;
  readonly plan: string;
  readonly vm: string;
  readonly type: BackupType;
  readonly chainId: string;
  readonly parentId: string | null;
  readonly status: ReplicaPointStatus;
  readonly runId: string;
  /** The nodes it was read on and written to (NodeHost.id): 'this host' or user@host:port. */
  readonly sourceNode: string;
  readonly replicaNode: string;
  /** ISO-8601 UTC. */
  readonly startedAt: string;
  /** When the source's point in time was taken. */
  readonly takenAt: string | null;
  readonly completedAt: string | null;
  readonly bytes: number | null;
  /** The domain XML the replica domain was defined from. */
  readonly definition: string | null;
  /** Ordered by disk key. */
  readonly disks: readonly ReplicaPointDisk[];
}

/** A plan failed over to its replica: the VM runs on the replica node from this point (one while it lasts). */
export interface ReplicaFailover {
  readonly plan: string;
  readonly pointId: string;
  readonly runId: string;
  /** The libvirt domain started on the replica node. */
  readonly domain: string;
  readonly node: string;
  /** ISO-8601 UTC. */
  readonly at: string;
}

/** A libvirt domain checkpoints were taken on, and how to reach its node again (docs/how-it-works.md#checkpoints-on-a-domain). */
export interface CheckpointDomain {
  /** NodeHost.id: 'this host' or user@host:port. */
  readonly node: string;
  readonly nodeSpec: NodeSpec | null;
  readonly uri: string;
  readonly domain: string;
  /** The plan's vm.name whose backups or syncs took them. */
  readonly vm: string;
  /** The last time a run took one there (ISO-8601 UTC). */
  readonly seenAt: string;
}

/** A chain `sendense-run retire` ended: its checkpoints deleted, its points kept. */
export interface RetiredChain {
  readonly chainId: string;
  readonly plan: string;
  readonly vm: string;
  readonly repository: string;
  readonly runId: string;
  readonly retiredAt: string;
}
