// The state interface the engine and commands use. One implementation (sql-store.ts) over
// kysely serves SQLite and PostgreSQL; dialect.ts holds what differs.

import type { ApiRecords } from './api-records.js';
import type { RepositoryNumbers } from './repository-numbers.js';
import type { DiskKey } from '../plan/types.js';
import type { NewFileMount } from './file-mounts.js';
import type {
  Backup,
  BackupDisk,
  PointFiguresRecord,
  RecordedLayerFacts,
  DrillRecord,
  FileMount,
  BackupType,
  PortLease,
  MergeRecord,
  ProcessRecord,
  Run,
  RunFile,
  RunRecord,
  DroppedPoint,
  NodeResource,
  VmLock,
  DiskSlot,
  RunStatus,
  RunKind,
  RunTrigger,
  ReplicaFailover,
  ReplicaPoint,
  ReplicaPointStatus,
  CheckpointDomain,
  RetiredChain,
} from './records.js';

export type { NewFileMount } from './file-mounts.js';

export interface NewRun {
  /** Default: a new time-ordered id, as the engine's runs get (run-20261121-020000-7f3a). */
  readonly id?: string;
  readonly plan: string;
  readonly kind: RunKind;
  readonly trigger: RunTrigger;
  readonly planFile?: string;
  /** Default: this process. */
  readonly pid?: number;
  /** Default: os.hostname(). */
  readonly hostname?: string;
  /** The scheduled fire it belongs to (plan@time): at most one run per fire. */
  readonly fire?: string;
  /** Who started it through the API (trigger api): the token's name. */
  readonly actor?: string;
}

export interface SkippedRun {
  readonly plan: string;
  readonly kind: RunKind;
  readonly trigger: RunTrigger;
  readonly planFile?: string;
  /** Why it did not run, e.g. "a run of this plan is still going (run X)". */
  readonly reason: string;
  readonly fire?: string;
}

/** claimFire's outcome: this hub runs it, it was skipped (recorded), or another hub has it. */
export type FireClaim =
  | { readonly claimed: 'run'; readonly run: Run }
  | { readonly claimed: 'skipped'; readonly run: Run }
  | { readonly claimed: 'taken'; readonly runId: string };

export interface NewBackup {
  /** Default: a new time-ordered id (it names the qcow2 files). */
  readonly id?: string;
  readonly vm: string;
  readonly plan: string;
  readonly type: BackupType;
  /** Required for an incremental: a complete backup of the same VM; its chain is inherited. */
  readonly parentId?: string;
  readonly repository: string;
  readonly runId: string;
}

export interface NewBackupDisk {
  readonly diskKey: DiskKey;
  readonly file: string;
  readonly virtualSize: number;
  readonly source: string;
  readonly sourceNode: string;
  readonly bitmap?: string;
}

// A complete backup as its manifests describe it (catalog import): the record's own facts, with
// completedAt known and bytes per disk, but no status or verification yet.
export type ImportedBackup = Pick<
  Backup,
  'id' | 'vm' | 'plan' | 'type' | 'chainId' | 'parentId' | 'repository' | 'startedAt' | 'runId'
> & {
  readonly completedAt: string;
  readonly disks: readonly (Omit<BackupDisk, 'backupId' | 'status' | 'bytes' | 'manifest'> & {
    readonly bytes: number;
  })[];
};

export interface NewReplicaPoint {
  /** Names its layer files, like a backup's id. */
  readonly id: string;
  readonly plan: string;
  readonly vm: string;
  readonly type: BackupType;
  readonly chainId: string;
  /** Required for an incremental: a complete point of the same plan and chain. */
  readonly parentId?: string;
  readonly runId: string;
  readonly sourceNode: string;
  readonly replicaNode: string;
}

export interface NewReplicaPointDisk {
  readonly diskKey: DiskKey;
  readonly path: string;
  readonly layer: string;
  readonly virtualSize: number;
  readonly source: string;
}

export interface LeaseRequest {
  readonly runId: string;
  readonly count: number;
  /** Inclusive range, e.g. 10100-10200. */
  readonly first: number;
  readonly last: number;
  /** Whether no other program listens on the port. Default: try to listen on 127.0.0.1:port. */
  readonly isFree?: (port: number) => Promise<boolean>;
  /** Default: this process. */
  readonly pid?: number;
}

export interface ReclaimedLease extends PortLease {
  /** Why it was taken back. */
  readonly reason: 'run-ended' | 'process-gone';
}

export interface LeaseResult {
  /** Ascending. */
  readonly ports: readonly number[];
  /** Leases taken back because their run ended or their process on this host is gone (for the run's log). */
  readonly reclaimed: readonly ReclaimedLease[];
  /** Ports skipped because another program listens on them. */
  readonly busy: readonly number[];
}

export interface SlotRequest {
  readonly runId: string;
  readonly plan: string;
  /** Slots this run would use (at most the limit). */
  readonly wanted: number;
  /** The hub's maxParallelDisks. */
  readonly limit: number;
  /** Its place in the queue: the fire time (ISO-8601 UTC); default now. */
  readonly queuedAt?: string;
  /** Default: this process. */
  readonly pid?: number;
}

export interface SlotTry {
  /** Slots this run holds now; 0 = still waiting. */
  readonly granted: number;
  /** Runs waiting before this one. */
  readonly ahead: number;
  /** Slots held by all runs together. */
  readonly held: number;
}

export interface Store {
  // runs
  createRun(run: NewRun): Promise<Run>;
  /** Ends the run and writes its record once (docs/commands.md#history); none given: its backup's as it stands. */
  /** 'skipped': a run that found its VM busy and whose plan says busy: skip (docs/how-it-works.md#busy-vms). */
  finishRun(id: string, status: Exclude<RunStatus, 'running'>, error?: string, record?: RunRecord): Promise<Run>;
  /** What the run's history line adds besides its status and error. */
  noteRun(id: string, note: string): Promise<void>;
  /** The bytes a run moved that no backup record counts (a copy's bytes sent). */
  recordRunBytes(id: string, bytes: number): Promise<void>;
  recordSkippedRun(run: SkippedRun): Promise<Run>;
  getRun(id: string): Promise<Run | undefined>;
  /** Records who acknowledged a failed run (the first one stands); false when there is no such run. */
  acknowledgeRun(id: string, by: string): Promise<boolean>;
  /** Newest first. */
  listRuns(filter?: { readonly plan?: string; readonly limit?: number }): Promise<readonly Run[]>;
  runningRuns(): Promise<readonly Run[]>;
  /** Every plan file a recorded run was started from (absolute), sorted: `status` without paths. */
  runPlanFiles(): Promise<readonly string[]>;
  /** A shared schedule's fire: records this hub's run of it, or a skip, or nothing if taken. */
  claimFire(run: NewRun & { readonly fire: string; readonly skip?: string }): Promise<FireClaim>;
  /** Fails running runs whose process is dead (another hub's by heartbeat) and frees what they held. */
  reapDeadRuns(): Promise<readonly Run[]>;

  // backups
  createBackup(backup: NewBackup): Promise<Backup>;
  addBackupDisk(backupId: string, disk: NewBackupDisk): Promise<Backup>;
  completeBackupDisk(
    backupId: string,
    diskKey: DiskKey,
    result: {
      readonly changeId: string | null;
      readonly bytes: number;
      readonly virtualSize?: number /** Its manifest is written. */;
      readonly manifest?: boolean;
    },
  ): Promise<void>;
  /** Only when every disk is complete (else throws, nothing changed). Bytes default: sum of the disks. */
  completeBackup(id: string, bytes?: number): Promise<Backup>;
  failBackup(id: string): Promise<void>;
  /** Deletes the records (not the files). Refused while an incremental stands on it. */
  deleteBackup(id: string): Promise<void>;
  getBackup(id: string): Promise<Backup | undefined>;
  /** Oldest first. */
  listBackups(filter?: { readonly vm?: string }): Promise<readonly Backup[]>;
  /** `plan`: only that plan's backups (a run continues its own chain). */
  latestCompleteBackup(vm: string, repository?: string, plan?: string): Promise<Backup | undefined>;
  /** Newest complete backup started at or before `time` (a restore point). */
  completeBackupAtOrBefore(vm: string, time: Date, repository?: string): Promise<Backup | undefined>;
  /** The full backup first, then each incremental up to and including this one. */
  chainOf(backupId: string): Promise<readonly Backup[]>;
  /** Number of complete backups in the chain. */
  chainLength(chainId: string): Promise<number>;
  /** Backups still 'running' or 'failed' (left by crashed or failed runs), for doctor. */
  incompleteBackups(): Promise<readonly Backup[]>;
  /** Marks complete (or already damaged) backups damaged, with what verify found. */
  markDamaged(ids: readonly string[], damage: string): Promise<void>;
  /** A damaged backup verified sound again, its parent complete: restorable and a parent again. */
  clearDamage(id: string): Promise<void>;
  /** protect / unprotect, and catalog import of a protected point. */
  setProtected(id: string, on: boolean): Promise<void>;
  /** Marks a point suspect with its reasons and keeps the clean points `keep` for it (docs/anomaly.md). */
  markSuspect(id: string, reasons: string, keep: readonly string[]): Promise<void>;
  /** Clears a suspect point (recording who) and releases the points it kept; returns them. */
  clearSuspect(id: string, by: string): Promise<readonly string[]>;
  /** Records an incremental's figures, kept after retention merges it away. */
  recordPointFigures(figures: PointFiguresRecord): Promise<void>;
  /** The VM's figures in a repository, not suspect, oldest first: at most `limit`, the newest. */
  pointFiguresHistory(vm: string, repository: string, limit: number): Promise<readonly PointFiguresRecord[]>;
  recordVerification(id: string, at: string): Promise<void>;
  /** listBackups, and the facts recorded of their layers (026-layer-facts; a layer not recorded is absent). */
  listBackupsWithFacts(filter?: { readonly vm?: string }): Promise<{
    readonly backups: readonly Backup[];
    readonly facts: readonly RecordedLayerFacts[];
  }>;
  /** The layers' recorded facts (026-layer-facts), of one VM or all; a layer not recorded is absent. */
  layerFacts(filter?: { readonly vm?: string }): Promise<readonly RecordedLayerFacts[]>;
  /** Records layers' facts as read from their files now (replacing what was recorded). */
  recordLayerFacts(facts: readonly Omit<RecordedLayerFacts, 'recordedAt'>[]): Promise<void>;
  /**
   * A number every change of a point or layer record raises (in the change's transaction): equal
   * twice, nothing listed changed between. Undefined where there is none (PostgreSQL).
   */
  backupsGeneration(): Promise<number | undefined>;
  /** Records a drill once it ended (docs/drills.md#what-a-drill-records). */
  recordDrill(drill: DrillRecord): Promise<void>;
  /** The newest drills of a plan or VM, newest first; `outcome: 'passed'`: the ones that proved their point. */
  listDrills(
    filter: { readonly plan?: string; readonly vm?: string; readonly repository?: string; readonly outcome?: 'passed' },
    limit: number,
  ): Promise<readonly DrillRecord[]>;
  drillOfRun(runId: string): Promise<DrillRecord | undefined>;
  /** Records a complete backup found in a repository's manifests (catalog import). */
  importBackup(backup: ImportedBackup): Promise<void>;
  /** A known backup found in another repository directory (moved): its repository and files there. */
  relocateBackup(
    id: string,
    repository: string,
    files: readonly { readonly diskKey: number; readonly file: string }[],
  ): Promise<void>;

  // replica points (migrations/012-replica-points.ts): layers on a replica node, recorded here only
  /** Status running, started now. */
  createReplicaPoint(point: NewReplicaPoint): Promise<void>;
  addReplicaPointDisk(pointId: string, disk: NewReplicaPointDisk): Promise<void>;
  /** When the source's point in time was taken. */
  replicaPointTaken(pointId: string, takenAt: string): Promise<void>;
  completeReplicaPointDisk(
    pointId: string,
    diskKey: DiskKey,
    facts: { readonly changeId: string | null; readonly bytes: number },
  ): Promise<void>;
  /**
   * Moves a point along running → installing → complete → folding → folded, to failed before it is
   * complete, or back from folding to complete; staying adds facts. installing and complete need
   * every disk complete and set bytes (default: the sum of the disks); complete sets completedAt.
   * Any other move throws, nothing changed.
   */
  setReplicaPointStatus(
    pointId: string,
    status: ReplicaPointStatus,
    facts?: { readonly bytes?: number; readonly definition?: string | null },
  ): Promise<void>;
  getReplicaPoint(id: string): Promise<ReplicaPoint | undefined>;
  /** Oldest first (started_at, then id). */
  listReplicaPoints(filter?: {
    readonly plan?: string;
    readonly statuses?: readonly ReplicaPointStatus[];
  }): Promise<readonly ReplicaPoint[]>;
  /** The replica's newest point: running, installing, failed and folding points are not points. */
  latestCompleteReplicaPoint(plan: string): Promise<ReplicaPoint | undefined>;
  /** Durably, at now; throws while the plan is failed over already. */
  recordReplicaFailover(failover: Omit<ReplicaFailover, 'at'>): Promise<void>;
  replicaFailover(plan: string): Promise<ReplicaFailover | undefined>;
  forgetReplicaFailover(plan: string): Promise<void>;

  // one backup run per VM at a time
  /** Takes the VM's lock for this run, or throws a SendenseError naming the run that holds it. */
  lockVm(vm: string, runId: string, plan: string): Promise<void>;
  unlockVm(vm: string, runId: string): Promise<void>;
  listVmLocks(): Promise<readonly VmLock[]>;

  /** The HTTP API's tokens, audit record and tasks (docs/api.md). */
  readonly api: ApiRecords;
  /** Each repository's number, for the old system's repository_id (docs/api.md#old-system-routes). */
  readonly repositories: RepositoryNumbers;

  // port leases
  leasePorts(request: LeaseRequest): Promise<LeaseResult>;
  /** The ports leasePorts would take now, taking nothing (--dry-run). */
  leasablePorts(request: Omit<LeaseRequest, 'runId'>): Promise<readonly number[]>;
  releasePorts(runId: string): Promise<number>;
  releasePort(port: number): Promise<void>;
  listLeases(): Promise<readonly PortLease[]>;

  // hub-wide disk slots (docs/how-it-works.md#scale): a queue in fire order, rows tied to a live process
  tryTakeSlots(request: SlotRequest): Promise<SlotTry>;
  releaseSlots(runId: string): Promise<void>;
  listSlots(): Promise<readonly DiskSlot[]>;
  /** How long the run waited for its slots (history). */
  recordQueued(runId: string, seconds: number): Promise<void>;
  /** How long the run waited for its VM while another plan's run held it. */
  recordVmWait(runId: string, seconds: number): Promise<void>;

  // processes started by runs (found again by PID + start ticks, never by name)
  recordProcess(
    runId: string,
    pid: number,
    kind: string,
    argv: readonly string[],
    startTicks?: number,
  ): Promise<ProcessRecord>;
  /** Without startTicks: every record of that PID. */
  forgetProcess(pid: number, startTicks?: number): Promise<void>;
  allProcesses(): Promise<readonly ProcessRecord[]>;

  // read-only FUSE mounts of backup points (sendense-run mount), for doctor
  recordFileMount(mount: NewFileMount): Promise<FileMount>;
  forgetFileMount(dir: string): Promise<void>;
  listFileMounts(): Promise<readonly FileMount[]>;
  // files a run writes outside the repository (recorded before they exist; doctor removes a dead run's)
  recordRunFile(file: Omit<RunFile, 'since'>): Promise<void>;
  forgetRunFile(node: string, path: string): Promise<void>;
  allRunFiles(): Promise<readonly RunFile[]>;
  /** Before a run takes it on a node (migrations/011-node-resources.ts); forgotten once given back. */
  recordNodeResource(resource: Omit<NodeResource, 'since'>): Promise<void>;
  forgetNodeResource(node: string, kind: string, name: string): Promise<void>;
  allNodeResources(): Promise<readonly NodeResource[]>;

  // libvirt checkpoints (migrations/018-checkpoint-records.ts)
  /** Where a libvirt source takes checkpoints: recorded by every run that takes one, kept for good. */
  recordCheckpointDomain(where: Omit<CheckpointDomain, 'seenAt'>): Promise<void>;
  checkpointDomains(): Promise<readonly CheckpointDomain[]>;
  /** Chains whose checkpoints `retire` deleted: the plan's next run starts a new chain. */
  retireChains(chains: readonly Omit<RetiredChain, 'retiredAt'>[]): Promise<void>;
  retiredChains(): Promise<readonly RetiredChain[]>;

  // retention merges (intent before any file is touched; doctor finishes or rolls back the rest)
  recordMerge(merge: Pick<MergeRecord, 'vm' | 'parentId' | 'childId' | 'runId'>): Promise<MergeRecord>;
  setMergePhase(id: string, phase: MergeRecord['phase']): Promise<void>;
  forgetMerge(id: string): Promise<void>;
  /** Oldest first. */
  listMerges(filter?: { readonly vm?: string }): Promise<readonly MergeRecord[]>;
  /** The child (when given) takes the parent's place and type; the parent's records and the merge's intent go, in one transaction. */
  dropPoint(parentId: string, childId: string | null, mergeId?: string): Promise<void>;
  /** A point removed whole: its records go and its files are noted as `files.runId`'s (run_files), in one durable transaction; the caller deletes the files next. */
  removePoint(
    backupId: string,
    files: Pick<RunFile, 'runId' | 'node' | 'kind'> & { readonly paths: readonly string[] },
  ): Promise<void>;
  /** What became of these points, gone from backups (merged or removed); those still there are not listed. */
  droppedPoints(backupIds: readonly string[]): Promise<readonly DroppedPoint[]>;

  /** The hub this process writes into rows (hub config name, else host name). */
  readonly hub: string;
  /** 'sqlite' or 'postgres'. */
  /** Several hubs can share this state (PostgreSQL): one schedule, heartbeats, hubs shown. */
  readonly sharedByHubs: boolean;
  /**
   * Aborted (with the reason) while this process has lost the shared state for so long that other
   * hubs will take it for dead: runs stop. Never on SQLite. Optional for stores made in tests.
   */
  fenced?(): AbortSignal;
  close(): Promise<void>;
}
