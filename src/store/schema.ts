// Row types of the tables (SQLite or PostgreSQL) (docs/how-it-works.md#what-is-recorded-and-where) as kysely sees them: snake_case columns,
// ISO-8601 UTC text times. Domain code uses the camelCase records of records.ts instead.

import type { Generated } from 'kysely';

export interface RunsTable {
  id: string;
  plan: string;
  kind: string;
  trigger: string;
  status: string;
  started_at: string;
  ended_at: string | null;
  error: string | null;
  pid: number | null;
  hostname: string | null;
  plan_file: string | null;
  backup_id: string | null;
  queued_seconds: number | null;
  /** The hub that ran it (009-many-hubs). */
  hub: string | null;
  /** A scheduled fire, plan@time: unique, so no fire runs twice. */
  fire: string | null;
  /** What the run's history line adds (010-manifest-facts). */
  note: string | null;
  /** Bytes a run moved without a backup record to count them (013-run-bytes: a copy's bytes sent). */
  bytes?: number | null;
  /** The kind of point it took, full or incremental, as it ended (014-run-record). */
  taken?: string | null;
  /** Who started it through the API: the token's name (016-api); null otherwise. */
  actor?: string | null;
  /** 1: refused its start, another run held its VM (022-refused-runs); its status says failed. */
  refused?: number;
  /** Who acknowledged a failed run, and when (028-acknowledged-runs); null: not acknowledged. */
  acknowledged_by?: string | null;
  acknowledged_at?: string | null;
  /** Seconds it waited for its VM, held by another plan's run (017-vm-wait); null: it did not wait. */
  vm_wait_seconds?: number | null;
}

/** A point gone from backups (014-run-record): merged into a child by retention, or removed. */
export interface DroppedPointsTable {
  backup_id: string;
  merged_into: string | null;
  dropped_at: string;
}

export interface BackupsTable {
  id: string;
  vm: string;
  plan: string;
  type: string;
  chain_id: string;
  parent_id: string | null;
  status: string;
  repository: string;
  started_at: string;
  completed_at: string | null;
  bytes: number | null;
  run_id: string;
  verified_at: string | null;
  damage: string | null;
  /** Recording order (006-backup-order); breaks ties between equal started_at. */
  seq: number | null;
  /** 1: protected by the operator (015-protected-points). */
  protected: Generated<number>;
  /** Why it is suspect, in numbers (024-suspect-points); null: not suspect. */
  suspect: string | null;
  suspect_cleared_by: string | null;
  suspect_cleared_at: string | null;
  /** The suspect point that keeps this clean point (024-suspect-points). */
  held_by: string | null;
}

/** An incremental's figures (024-suspect-points), kept when retention merges the point away. */
export interface PointFiguresTable {
  backup_id: string;
  vm: string;
  repository: string;
  taken_at: string;
  changed_bytes: number;
  sampled_blocks: number;
  incompressible_blocks: number;
  /** 1: suspect and not cleared (left out of the history). */
  suspect: Generated<number>;
}

/** A drill's outcome (docs/drills.md#what-a-drill-records); checks: DrillCheckResult[] as JSON. */
export interface DrillsTable {
  run_id: string;
  plan: string;
  vm: string;
  repository: string;
  backup_id: string;
  started_at: string;
  ended_at: string;
  outcome: string;
  boot_seconds: number | null;
  heartbeat_seconds: number | null;
  checks: string;
  screenshot_png: string | null;
  console_tail: string | null;
}

export interface BackupDisksTable {
  backup_id: string;
  disk_key: number;
  file: string;
  virtual_size: number;
  change_id: string | null;
  bytes: number | null;
  status: string;
  source: string;
  source_node: string;
  bitmap: string | null;
  /** 1: written with a manifest beside it (010-manifest-facts); its absence is damage. */
  manifest: number;
  /** 64 KiB blocks of the copied data sampled, and how many did not compress (023-change-samples); null: none measured. */
  sampled_blocks: number | null;
  incompressible_blocks: number | null;
  /** What a listing shows of the layer, recorded (026-layer-facts); facts_at null: not recorded. */
  facts_at: string | null;
  on_disk_bytes: number | null;
  encrypted: number | null;
  backing: string | null;
  header_problem: string | null;
}

/** A number every change of a point or layer record raises (026-layer-facts, SQLite only). */
export interface BackupChangesTable {
  id: number;
  generation: number;
}

export interface PortLeasesTable {
  port: number;
  run_id: string;
  pid: number;
  hostname: string;
  since: string;
  start_ticks: number | null;
  hub: string | null;
}

export interface ProcessesTable {
  pid: number;
  run_id: string;
  kind: string;
  argv_json: string;
  started_at: string;
  start_ticks: number;
}

export interface VmLocksTable {
  vm: string;
  run_id: string;
  plan: string;
  pid: number;
  hostname: string;
  start_ticks: number | null;
  since: string;
  hub: string | null;
}

export interface FileMountsTable {
  dir: string;
  vm: string;
  backup_id: string;
  disk_key: number;
  server_pid: number;
  server_start_ticks: number;
  owner_pid: number;
  owner_start_ticks: number;
  hostname: string;
  since: string;
}

export interface NodeResourcesTable {
  run_id: string;
  node: string;
  kind: string;
  name: string;
  /** JSON: what doctor needs to give it back (NodeResource.facts). */
  facts: string;
  since: string;
}

/** A domain a libvirt source took checkpoints on (018-checkpoint-records). */
export interface CheckpointDomainsTable {
  node: string;
  uri: string;
  domain: string;
  vm: string;
  /** JSON NodeSpec, or null for this host. */
  node_spec: string | null;
  seen_at: string;
}

/** A chain `retire` ended: its checkpoints deleted, its points kept (018-checkpoint-records). */
export interface RetiredChainsTable {
  chain_id: string;
  plan: string;
  vm: string;
  repository: string;
  run_id: string;
  retired_at: string;
}

export interface RunFilesTable {
  run_id: string;
  node: string;
  path: string;
  kind: string;
  since: string;
}

export interface MergesTable {
  id: string;
  vm: string;
  parent_id: string;
  child_id: string;
  phase: string;
  run_id: string;
  since: string;
}

export interface DiskSlotsTable {
  run_id: string;
  plan: string;
  wanted: number;
  granted: number;
  queued_at: string;
  granted_at: string | null;
  pid: number;
  hostname: string;
  start_ticks: number | null;
  hub: string | null;
}

export interface HubProcessesTable {
  hub: string;
  hostname: string;
  pid: number;
  started_at: string;
  beat_at: string;
}

export interface ReplicaPointsTable {
  id: string;
  plan: string;
  vm: string;
  type: string;
  chain_id: string;
  parent_id: string | null;
  status: string;
  run_id: string;
  source_node: string;
  replica_node: string;
  started_at: string;
  /** The order points were recorded in (019-replica-point-order); null only before the insert. */
  seq: number | null;
  /** When the source's point in time was taken. */
  taken_at: string | null;
  completed_at: string | null;
  bytes: number | null;
  /** The domain XML the replica domain was defined from. */
  definition: string | null;
}

export interface ReplicaPointDisksTable {
  point_id: string;
  disk_key: number;
  path: string;
  layer: string;
  virtual_size: number;
  change_id: string | null;
  bytes: number | null;
  source: string;
}

export interface ReplicaFailoversTable {
  plan: string;
  point_id: string;
  run_id: string;
  domain: string;
  node: string;
  at: string;
}

export interface StoreDatabase {
  runs: RunsTable;
  backups: BackupsTable;
  backup_disks: BackupDisksTable;
  backup_changes: BackupChangesTable;
  point_figures: PointFiguresTable;
  drills: DrillsTable;
  port_leases: PortLeasesTable;
  processes: ProcessesTable;
  vm_locks: VmLocksTable;
  file_mounts: FileMountsTable;
  run_files: RunFilesTable;
  node_resources: NodeResourcesTable;
  merges: MergesTable;
  dropped_points: DroppedPointsTable;
  disk_slots: DiskSlotsTable;
  hub_processes: HubProcessesTable;
  replica_points: ReplicaPointsTable;
  replica_point_disks: ReplicaPointDisksTable;
  replica_failovers: ReplicaFailoversTable;
  api_tokens: ApiTokensTable;
  api_audit: ApiAuditTable;
  api_tasks: ApiTasksTable;
  repository_numbers: RepositoryNumbersTable;
  checkpoint_domains: CheckpointDomainsTable;
  retired_chains: RetiredChainsTable;
}

/** An API token (016-api): only the SHA-256 of its secret is kept. */
export interface ApiTokensTable {
  name: string;
  role: string;
  secret_hash: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

/** One action taken through the API (016-api): who, what, when, outcome. */
export interface ApiAuditTable {
  id: string;
  at: string;
  token: string | null;
  address: string | null;
  action: string;
  target: string | null;
  status: number;
  outcome: string;
  task_id: string | null;
}

/** A repository's number, for the old system's repository_id (021-repository-numbers). */
export interface RepositoryNumbersTable {
  number: number;
  path: string;
  first_seen_at: string;
}

/** A task of the API (016-api): a run or long operation it started, as it stands. */
export interface ApiTasksTable {
  id: string;
  operation: string;
  title: string;
  token: string | null;
  hub: string | null;
  status: string;
  started_at: string;
  ended_at: string | null;
  exit_code: number | null;
  pid: number | null;
  /** Its process's start time (020-api-task-process): a reused PID is not the task's process. */
  pid_start_ticks: number | null;
  run_id: string | null;
  error: string | null;
}
