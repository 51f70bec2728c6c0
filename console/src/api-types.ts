// The API's answers as the console reads them (docs/api.md). Written by hand from the route table
// in src/api/routes/*.ts: most answers there are open objects (`backups --json` lines and such),
// which generated types would leave as `unknown`. test/console/console.test.ts checks every path
// the console calls (./api-paths.ts) against the server's OpenAPI document.

export type Role = 'audit' | 'restore' | 'operator' | 'admin';

export interface Session {
  readonly token: string;
  readonly role: Role;
  readonly via: 'bearer' | 'session';
  readonly csrf?: string;
  /** "METHOD /api/v1/path/:param" of every route this role may call. */
  readonly can: readonly string[];
}

export interface Login {
  readonly token: string;
  readonly role: Role;
  readonly csrf: string;
}

export interface Run {
  readonly id: string;
  readonly plan: string;
  readonly status: string;
  readonly startedAt: string;
  readonly endedAt?: string | null;
  readonly error: string | null;
  readonly trigger?: string;
  readonly backupId?: string | null;
}

export interface PlanJson {
  readonly name: string;
  readonly file: string;
  readonly kind?: string;
  readonly vm?: string;
  readonly schedule?: string;
  readonly timezone?: string;
  readonly nextRuns?: readonly string[];
  readonly valid: boolean;
  readonly findings: readonly string[];
  readonly lastRuns?: readonly Run[];
  /** The least role that may run it (restore plans: restore; others: operator). */
  readonly runRole?: Role;
  /** GET /api/v1/plans/:name: the steps a run of it takes, in order (run-start's list). */
  readonly steps?: readonly string[];
}

/** One line of `status --json` (src/core/plan-status.ts). */
export interface PlanStatus {
  readonly plan: string;
  readonly vm: string;
  readonly kind: string;
  readonly schedule: string | null;
  readonly nextRun: string | null;
  readonly running: boolean;
  readonly lastRun: {
    readonly id: string;
    readonly status: string;
    readonly startedAt: string;
    readonly endedAt: string;
    readonly error: string | null;
    readonly acknowledgedBy: string | null;
  } | null;
  readonly newestPoint: { readonly id: string; readonly takenAt: string; readonly ageSeconds: number } | null;
  readonly repositoryBytes: number | null;
  readonly replicaLagSeconds: number | null;
}

export interface RepositoryFacts {
  readonly repository: string;
  readonly points: number;
  readonly usedBytes: number;
  readonly freeBytes: number | null;
  readonly bytesPerDay: number;
  readonly estimatedFullAt: string | null;
  readonly lastVerifiedAt: string | null;
}

export interface Task {
  readonly id: string;
  readonly operation: string;
  readonly title: string;
  readonly token: string | null;
  readonly status: string;
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly exitCode: number | null;
  readonly runId: string | null;
  readonly error: string | null;
  readonly events: string;
}

export interface Replica {
  readonly plan: string;
  readonly vm: string | null;
  readonly replicaNode: string | null;
  readonly lagSeconds: number | null;
  readonly failover: {
    readonly at: string;
    readonly pointId: string;
    readonly domain: string;
    readonly node: string;
  } | null;
  readonly points: readonly {
    readonly id: string;
    readonly takenAt: string;
    readonly ageSeconds: number;
    readonly type: string;
    readonly bytes: number | null;
  }[];
}

export interface Failure {
  readonly id: string;
  readonly plan: string;
  readonly startedAt: string;
  readonly error: string | null;
  readonly acknowledgedBy: string | null;
  readonly acknowledgedAt: string | null;
}

/** POST /api/v1/runs/:id/ack (src/core/acknowledge-run.ts). */
export interface Acknowledgement {
  readonly runId: string;
  readonly plan: string;
  readonly by: string;
  readonly at: string;
  readonly changed: boolean;
}

/** POST /api/v1/backups/:id/clear (src/core/clear-suspect-point.ts). */
export interface Cleared {
  readonly vm: string;
  readonly backupId: string;
  readonly by: string;
  readonly released: readonly string[];
}

/** GET /api/v1/trends (src/core/trends.ts): what the charts draw. */
export interface Trends {
  readonly repositories: readonly {
    readonly repository: string;
    readonly use: readonly { readonly at: string; readonly usedBytes: number }[];
  }[];
  readonly plans: readonly {
    readonly plan: string;
    readonly runs: readonly {
      readonly at: string;
      readonly seconds: number;
      readonly bytes: number | null;
      readonly status: string;
    }[];
  }[];
}

export interface Status {
  readonly plans: readonly PlanStatus[];
  readonly vms: { readonly withPlan: readonly string[]; readonly withoutPlan: readonly string[] };
  readonly lastRuns: readonly Run[];
  /** Failed runs of the last 7 days, newest first. */
  readonly failures: readonly Failure[];
  /** The same counted per plan: open (not acknowledged) and acknowledged. */
  readonly failuresByPlan: readonly {
    readonly plan: string;
    readonly open: number;
    readonly acknowledged: number;
    readonly lastAt: string;
  }[];
  readonly rpoMissed: readonly {
    readonly plan: string;
    readonly newestPoint: PlanStatus['newestPoint'];
    readonly schedule: string | null;
  }[];
  readonly repositories: readonly RepositoryFacts[];
  readonly replicas: readonly Replica[];
  readonly runningTasks: readonly Task[];
}

export interface Vm {
  readonly name: string;
  readonly plans: readonly { readonly name: string; readonly kind?: string }[];
  readonly points: number;
  readonly chains: number;
  readonly newestPoint: { readonly id: string; readonly takenAt: string; readonly repository: string } | null;
  readonly protectedByPlan: boolean;
}

/** A point as `backups --json` prints it (docs/json-events.md, its backups section). */
export interface Point {
  readonly id: string;
  readonly vm: string;
  readonly plan: string;
  readonly type: string;
  readonly chainId: string;
  readonly parentId: string | null;
  readonly status: string;
  readonly repository: string;
  readonly startedAt: string;
  readonly completedAt: string | null;
  readonly bytes: number | null;
  readonly onDiskBytes: number | null;
  readonly verifiedAt: string | null;
  readonly damage: string | null;
  readonly protected: boolean;
  /** Why the point is suspect, in numbers (docs/anomaly.md); null when it is not. */
  readonly suspect: string | null;
  readonly suspectClearedBy: string | null;
  readonly suspectClearedAt: string | null;
  /** The suspect point that keeps this clean point from retention. */
  readonly heldBy: string | null;
  readonly encrypted?: boolean;
  readonly restorable: boolean;
  readonly notRestorableBecause?: string;
  readonly disks: readonly PointDisk[];
}

/** A disk of a point (`backups --json`, its `disks`). */
export interface PointDisk {
  readonly diskKey: number | string;
  readonly virtualSize?: number | null;
  /** Where it was read from: a path, an nbd:// URL… */
  readonly source?: string;
}

export interface Chain {
  readonly id: string;
  readonly vm: string;
  readonly repository: string;
  readonly points: readonly Point[];
}

/** One check of a drill (docs/drills.md#checks). */
export interface DrillCheck {
  readonly check: string;
  readonly status: 'passed' | 'failed' | 'skipped';
  readonly seconds: number;
  readonly detail: string;
}

/** A drill of a VM (GET /api/v1/vms/{vm}/drills; src/core/list-drills.ts). */
export interface Drill {
  readonly runId: string;
  readonly plan: string;
  readonly backupId: string;
  readonly endedAt: string;
  readonly outcome: 'passed' | 'failed';
  /** The measured recovery time: the domain's start to its heartbeat. */
  readonly recoverySeconds: number | null;
  readonly checks: readonly DrillCheck[];
  /** A screenshot was kept (GET /api/v1/drills/{run}/screenshot, the restore role). */
  readonly screenshot: boolean;
}

/** A filesystem of a point (`files --json` without a path; src/files/files-json.ts). */
export interface GuestFilesystem {
  /** NAME of NAME:/PATH: p1, vg0/root, disk, p2@home. */
  readonly name: string;
  /** ext4, xfs, vfat, ntfs, btrfs, swap, unknown… */
  readonly type: string;
  readonly label: string;
  readonly size: number;
  readonly os?: string;
  readonly partitionTable: string;
}

/** GET /api/v1/backups/:id/files: the point's filesystems (of one disk: the first, or ?disk=). */
export interface GuestFilesystems {
  readonly point: {
    readonly vm: string;
    readonly backupId: string;
    readonly diskKey: number | string;
    readonly repository: string;
  };
  readonly filesystems: readonly GuestFilesystem[];
}

/** An entry of a directory (`files --json NAME:/DIR`). */
export interface GuestEntry {
  readonly name: string;
  readonly type: 'file' | 'directory' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  readonly size: number;
  /** Octal text, e.g. "0755". */
  readonly mode: string;
  readonly mtime: string;
  readonly target?: string;
}

/** GET /api/v1/backups/:id/files?path=NAME:/DIR: the directory's entries. */
export interface GuestDirectory {
  readonly path: string;
  /** Who listed it: debugfs or ntfs-3g (the fast path) or the appliance. */
  readonly reader?: 'debugfs' | 'ntfs-3g' | 'fat-walker' | 'appliance';
  readonly entries: readonly GuestEntry[];
}

/** GET /api/v1/backups/:id/files answering 202: the point's appliance is starting (ask again per Retry-After). */
export interface ApplianceStarting {
  readonly status: 'starting';
  readonly reader: 'appliance';
  /** Seconds since it began starting. */
  readonly startedSeconds: number;
}

export interface ApiErrorBody {
  readonly error: string;
  readonly message: string;
  readonly field?: string;
}
