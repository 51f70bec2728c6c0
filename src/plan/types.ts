// The typed, validated form of a plan (docs/plan-reference.md). A Plan is produced only by the loader
// after schema and semantic checks, and is deeply frozen: steps never re-check YAML.

import type { RepositoryConfig } from '../repository/repository-settings.js';
import type { RawRetention } from './plan-shape.generated.js';

export type PlanKind = 'backup' | 'incremental' | 'restore' | 'verify' | 'recover' | 'replicate' | 'copy' | 'drill';

export type DiskKey = number;

export interface QemuDisk {
  readonly key: DiskKey;
  /** Absolute path of the image on the node. */
  readonly path: string;
  /** Image format; when absent it is read with `qemu-img info` on the node. */
  readonly format?: 'qcow2' | 'raw';
}

export interface NbdDisk {
  readonly key: DiskKey;
  /** nbd://host:port/export or nbd+unix:///export?socket=/path, as seen from the node. */
  readonly url: string;
  /** Name of a `qemu:dirty-bitmap:<bitmap>` context the export offers, for incrementals. */
  readonly bitmap?: string;
}

export interface VmwareDisk {
  readonly key: DiskKey;
}

export interface QemuSource {
  readonly type: 'qemu';
  readonly disks: readonly QemuDisk[];
}

export interface NbdSource {
  readonly type: 'nbd';
  readonly disks: readonly NbdDisk[];
}

export interface VmwareSource {
  readonly type: 'vmware';
  /** Who reads the VM: sendense-run's own vSphere client (docs/vmware.md), or sendense-backup-client on the node. */
  readonly client: 'sendense-run' | 'sendense-backup-client';
  readonly endpoint: string;
  readonly username: string;
  /** Name of the environment variable (on the hub) holding the password. */
  readonly passwordEnv?: string;
  /** Path of a file (on the hub) holding the password. */
  readonly passwordFile?: string;
  /** Inventory path of the VM, e.g. /DC/vm/pgtest1 (or its moref, vm-42, with client sendense-run). */
  readonly path: string;
  /** SHA-256 fingerprint of the server's certificate, "AB:CD:…" (client sendense-run); absent: none trusted yet. */
  readonly certificateSha256?: string;
  /** Quiesce the guest for the snapshot (VMware Tools). */
  readonly quiesce: boolean;
  /** A VM with CBT off: refused (require) or CBT turned on (enable). */
  readonly cbt: 'require' | 'enable';
  readonly disks: readonly VmwareDisk[];
  /** Path of sendense-backup-client on the node. */
  readonly clientPath: string;
}

/** A disk of a libvirt domain, by its target device. */
export interface LibvirtDisk {
  readonly key: DiskKey;
  /** <target dev> in the domain XML: vda, sdb… */
  readonly target: string;
}

export interface LibvirtSource {
  readonly type: 'libvirt';
  /** The domain's name on the node (default: vm.name). */
  readonly domain: string;
  /** libvirt connection URI on the node (default qemu:///system). */
  readonly uri: string;
  /** Freeze guest filesystems through qemu-guest-agent for the instant of the checkpoint. */
  readonly quiesce: 'auto' | 'require' | 'off';
  /** Directory on the node for the backup job's socket and scratch files (default /var/tmp). */
  readonly scratch: string;
  /** Empty: every writable file or block disk, keys 2000, 2001… in target order. */
  readonly disks: readonly LibvirtDisk[];
}

export type Source = QemuSource | NbdSource | VmwareSource | LibvirtSource;

export interface NodeSpec {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Absolute (tilde already expanded). */
  readonly identityFile?: string;
  /** Absolute (tilde already expanded). */
  readonly knownHosts: string;
}

export interface NbdSettings {
  readonly ports: { readonly first: number; readonly last: number };
  readonly shared: number;
}

export interface IncrementalSettings {
  readonly onMissingChain: 'full' | 'fail';
  /** Infinity when keep-* retention rules merge points (a chain can stay incremental forever). */
  readonly maxChainLength: number;
}

/** Either keepChains (whole chains) or any keep-* rules (points, merged away; docs/how-it-works.md#retention), never both. */
export type RetentionSettings = RawRetention;

export interface Hook {
  /** The command for `sh -c`, its `${NAME}` references left for the shell to expand. */
  readonly run: string;
  readonly on: 'hub' | 'node';
  /** The values of the variables `run` references, from the hub's environment at run time. */
  readonly env: Readonly<Record<string, string>>;
}

export interface Hooks {
  readonly before: readonly Hook[];
  readonly after: readonly Hook[];
  readonly onFailure: readonly Hook[];
  readonly always: readonly Hook[];
}

export interface Timeouts {
  /** Milliseconds; undefined = no limit. */
  readonly transfer?: number;
}

/** A secret read on the hub when it is needed (docs/notifications.md): an environment variable or a file. */
export type SecretSource = { readonly env: string } | { readonly file: string };

/** A JSON POST of the run's end (docs/notifications.md#webhook). */
export interface WebhookSettings {
  readonly url: string;
  /** Header name -> where its value is read. */
  readonly headers: Readonly<Record<string, SecretSource>>;
  /** Milliseconds one attempt may take. */
  readonly timeout: number;
  /** Attempts after the first. */
  readonly retries: number;
}

/** A mail through an SMTP server (docs/notifications.md#email). */
export interface EmailSettings {
  readonly host: string;
  readonly port: number;
  readonly security: 'starttls' | 'tls' | 'none';
  readonly from: string;
  readonly to: readonly string[];
  readonly username?: string;
  readonly password?: SecretSource;
  /** Milliseconds the whole send may take. */
  readonly timeout: number;
}

/** Who hears how a run ended, and when (a plan's own, else the hub config's). */
export interface NotifySettings {
  readonly on: 'failure' | 'success' | 'always';
  readonly webhook?: WebhookSettings;
  readonly email?: EmailSettings;
}

/** Where a plan came from, for messages. */
export interface PlanOrigin {
  readonly file: string;
}

/** busy (docs/how-it-works.md#busy-vms): wait for the VM up to waitMs, skip the run, or fail at once. */
export type BusyPolicy =
  { readonly action: 'wait'; readonly waitMs: number } | { readonly action: 'skip' } | { readonly action: 'fail' };

/** busy's default: a run waits up to 30 minutes for its VM. */
export const DEFAULT_BUSY: BusyPolicy = Object.freeze({ action: 'wait', waitMs: 30 * 60_000 });

/** What every kind's plan has (src/kinds: each kind adds its own blocks). */
export interface PlanBase {
  readonly version: 1;
  readonly name: string;
  readonly description?: string;
  readonly schedule?: string;
  readonly timezone?: string;
  readonly catchUp: 'none' | 'latest';
  readonly node?: NodeSpec;
  readonly repository: RepositoryConfig;
  readonly nbd: NbdSettings;
  readonly hooks: Hooks;
  readonly timeouts: Timeouts;
  /** Prometheus textfile written after each run (`{plan}` replaced), if any. */
  readonly metricsFile?: string;
  /**
   * Bytes per second its data path may use, all disks together (docs/bandwidth.md): the node
   * transfer of a backup, restore or sync, a recover's storage move, the bytes a copy sends;
   * undefined = no limit of its own.
   */
  readonly rate?: number;
  /** Notifications of the run's end; undefined: the hub config's, if any. */
  readonly notify?: NotifySettings;
  /** What a run does when another plan's run holds its VM (kinds whose runs lock it). */
  readonly busy: BusyPolicy;
  readonly origin: PlanOrigin;
  /** `${VAR}` names used anywhere in the plan (already substituted when resolved for a run). */
  readonly envRefs: readonly string[];
}

export interface BackupPlan extends PlanBase {
  readonly kind: 'backup' | 'incremental';
  readonly vm: { readonly name: string; readonly source: Source };
  /** Defaults applied also for kind backup (unused there). */
  readonly incremental: IncrementalSettings;
  readonly retention?: RetentionSettings;
  /** When a point is marked suspect (docs/anomaly.md#when-a-point-is-suspect), defaults filled in. */
  readonly anomaly: AnomalySettings;
}

/** The plan's `anomaly:` block with its defaults (docs/anomaly.md#when-a-point-is-suspect). */
export interface AnomalySettings {
  readonly enabled: boolean;
  /** Latest incrementals compared with. */
  readonly history: number;
  /** Incrementals with figures needed before any is marked. */
  readonly learn: number;
  readonly changedFactor: number;
  readonly incompressibleShare: number;
  readonly incompressibleRise: number;
  readonly keepClean: number;
}

export type RestorePoint =
  | { readonly type: 'latest' }
  /** The newest point before the VM's oldest suspect point not cleared (docs/anomaly.md#restoring-the-last-clean-point). */
  | { readonly type: 'last-clean' }
  | { readonly type: 'id'; readonly id: string }
  | { readonly type: 'time'; readonly time: Date };

export type RestoreTarget =
  | {
      readonly type: 'file';
      /** Contains `{key}` unless a single disk is restored. Absolute. */
      readonly path: string;
      readonly format: 'qcow2' | 'raw';
      readonly overwrite: boolean;
      /** Permissions of the restored files (default 0o600). */
      readonly mode: number;
    }
  | {
      readonly type: 'nbd';
      /** Contains `{key}` unless a single disk is restored. */
      readonly url: string;
    }
  | DomainTarget;

/** Files (qcow2) and a new libvirt domain on them, from the XML stored with the point. */
export interface DomainTarget {
  readonly type: 'domain';
  readonly uri: string;
  /** The new domain's name: one that exists is refused. */
  readonly domain: string;
  /** Contains `{key}` unless a single disk is restored. Absolute. */
  readonly path: string;
  readonly start: boolean;
  /** none: no network interface; keep: the original's networks, new MACs. */
  readonly network: 'none' | 'keep';
}

/** File-level restore (docs/file-level-restore.md): files and folders of one disk, on this host. */
export interface FilesTarget {
  readonly type: 'files';
  /** NAME:/PATH each, e.g. p1:/etc. */
  readonly paths: readonly string[];
  /** Absolute: a directory, or a .tar, .tar.gz/.tgz or .zip file. */
  readonly to: string;
  readonly overwrite: boolean;
}

export interface RestorePlan<T extends RestoreTarget | FilesTarget = RestoreTarget | FilesTarget> extends PlanBase {
  readonly kind: 'restore';
  readonly vm: { readonly name: string };
  readonly restore: {
    readonly point: RestorePoint;
    /** Undefined = every disk of the chosen backup (files: the first disk). */
    readonly disks?: readonly DiskKey[];
    readonly target: T;
    readonly verify: boolean;
  };
}

/** A restore of whole disks (file, nbd or domain targets). */
export type DiskRestorePlan = RestorePlan<RestoreTarget>;
/** A file-level restore. */
export type FilesRestorePlan = RestorePlan<FilesTarget>;

export function isFilesRestore(plan: RestorePlan): plan is FilesRestorePlan {
  return plan.restore.target.type === 'files';
}

export interface VerifyPlan extends PlanBase {
  readonly kind: 'verify';
  /** The VM of verify.vm ('all': every VM of the repository), for messages, hooks and locks. */
  readonly vm: { readonly name: string };
  readonly verify: {
    /** Undefined: every VM of the repository. */
    readonly vm?: string;
    /** Milliseconds: skip backups verified more recently. */
    readonly outdatedAfter?: number;
  };
}

/** A minimal domain for a point without stored XML (docs/instant-recovery.md). */
export interface RecoverDefinition {
  /** stored: the point's XML when it has one; plan: always this. */
  readonly use: 'stored' | 'plan';
  /** Bytes. */
  readonly memory: number;
  readonly vcpus: number;
  readonly bus: 'virtio' | 'sata' | 'scsi';
  readonly virtualization: 'kvm' | 'qemu';
  readonly firmware: 'bios' | 'efi';
  /** A libvirt network for one virtio interface; none: no interface. */
  readonly network?: string;
}

/** A libvirt network or a host bridge an interface is on. */
export interface InterfaceNetwork {
  readonly type: 'network' | 'bridge';
  readonly name: string;
}

/** One network change: the original's interfaces on `from` (every other one: '*') go onto `to`, or are left out. */
export interface InterfaceMove {
  readonly from: InterfaceNetwork | '*';
  readonly to: InterfaceNetwork | 'none';
}

/** What a recovered or replica domain gets instead of the original's (docs/instant-recovery.md#changing-the-recovered-domain). */
export interface DomainChanges {
  /** Bytes. */
  readonly memory?: number;
  readonly vcpus?: number;
  /** Empty: every interface stays on its own network. */
  readonly network: readonly InterfaceMove[];
}

/** Instant recovery (docs/instant-recovery.md): a libvirt domain started from a served point. */
export interface RecoverPlan extends PlanBase {
  readonly kind: 'recover';
  readonly vm: { readonly name: string };
  readonly recover: {
    readonly point: RestorePoint;
    /** Undefined = every disk of the chosen backup. */
    readonly disks?: readonly DiskKey[];
    readonly to: {
      readonly type: 'libvirt';
      readonly uri: string;
      readonly domain: string;
      /** Absolute node path; contains `{key}` unless one disk is recovered. */
      readonly storage: string;
      /** Directory on the node for the run's overlays. */
      readonly scratch: string;
      readonly definition?: RecoverDefinition;
      readonly changes?: DomainChanges;
    };
    readonly start: boolean;
    readonly moveStorage: boolean;
  };
}

/** Where a replicate plan keeps the standby copy (docs/replication.md). */
export interface ReplicaSettings {
  /** The node holding the replica; undefined: this host. */
  readonly node?: NodeSpec;
  /** Absolute path on the replica node of each disk's newest point; contains `{key}` unless the source lists one disk. */
  readonly path: string;
  /** Restore points kept on the replica (the newest included). */
  readonly points: number;
  /** The libvirt domain defined (never started by a sync) on the replica node; undefined: none. */
  readonly domain?: string;
  /** libvirt connection URI on the replica node. */
  readonly uri: string;
  /** Directory on the replica node for a sync's NBD sockets. */
  readonly scratch: string;
  /** The replica domain's definition when the source has no XML of its own (or `use: plan`). */
  readonly definition?: RecoverDefinition;
  /** Made to the replica domain's definition whenever it is defined. */
  readonly changes?: DomainChanges;
}

/** Replication (docs/replication.md): the VM's disks kept in sync on another node, no copy on the hub. */
export interface ReplicatePlan extends Omit<PlanBase, 'repository'> {
  readonly kind: 'replicate';
  readonly vm: { readonly name: string; readonly source: Source };
  readonly replica: ReplicaSettings;
}

/** A copy in a directory on another host, over SSH. */
export interface SshCopyTo {
  readonly type: 'ssh';
  readonly node: NodeSpec;
  /** Absolute path on that host of the copy: a repository of its own, the same layout. */
  readonly path: string;
}

/** A copy in a directory of this host (docs/copies.md#a-copy-on-this-host): a second disk, a NAS mount. */
export interface DirCopyTo {
  readonly type: 'dir';
  /** Absolute path of the copy: a repository of its own, the same layout. */
  readonly path: string;
}

/** Where an s3 copy's keys come from (never the keys themselves). */
export type S3Credentials =
  | { readonly accessKeyIdEnv: string; readonly secretAccessKeyEnv: string }
  | { readonly file: string; readonly profile: string };

/** A copy in a bucket of an S3 object store (docs/copies.md#copies-on-object-storage). */
/** copy.to.objectLock: the days each object is locked as written, and per keep-* rule for the points it keeps. */
export interface ObjectLock extends Partial<
  Record<'keepLast' | 'keepDaily' | 'keepWeekly' | 'keepMonthly' | 'keepYearly', number>
> {
  readonly mode: 'governance' | 'compliance';
  readonly days: number;
}

export interface S3CopyTo {
  readonly type: 's3';
  /** "http://127.0.0.1:7480", without a trailing '/'. */
  readonly endpoint: string;
  readonly bucket: string;
  /** '' (the bucket's root) or "offsite/pgtest1", without leading or trailing '/'. */
  readonly prefix: string;
  readonly region: string;
  readonly credentials: S3Credentials;
  readonly objectLock?: ObjectLock;
}

/** copy.to: where the copy is (docs/copies.md); each type is one module in src/copy/targets/. */
export type CopyTo = SshCopyTo | S3CopyTo | DirCopyTo;

/** Where a copy plan sends the repository's points (docs/copies.md). */
export interface CopySettings {
  /** Undefined: every VM of the repository. */
  readonly vm?: string;
  readonly to: CopyTo;
  /** Check each hub file against its manifest before the copy counts it. */
  readonly verify: boolean;
  /** The copy's own keep-* rules (docs/copies.md#retention); undefined: it keeps every point. */
  readonly retention?: Omit<RetentionSettings, 'keepChains'>;
}

/** Copies off the hub (docs/copies.md): the points of the repository the copy lacks, sent over SSH. */
export interface CopyPlan extends PlanBase {
  readonly kind: 'copy';
  /** The VM of copy.vm ('all': every VM of the repository), for messages, hooks and metrics. */
  readonly vm: { readonly name: string };
  readonly copy: CopySettings;
}

/** One check of a drill (docs/drills.md#checks); timeout in seconds. */
export type DrillCheck =
  | { readonly type: 'boot'; readonly timeout: number }
  | { readonly type: 'heartbeat'; readonly timeout: number; readonly console?: string; readonly agent: boolean }
  | { readonly type: 'screenshot'; readonly timeout: number }
  | { readonly type: 'tcp'; readonly timeout: number; readonly port: number; readonly address: string }
  | {
      readonly type: 'command';
      readonly timeout: number;
      readonly run: readonly string[];
      readonly expect?: string;
      readonly exitCode: number;
    }
  | { readonly type: 'files'; readonly timeout: number; readonly exists: readonly string[] }
  | { readonly type: 'fsck'; readonly timeout: number };

/** A recovery drill (docs/drills.md): a point started isolated, checked, then removed. */
export interface DrillPlan extends Omit<PlanBase, 'repository'> {
  readonly kind: 'drill';
  /** The repository whose point is drilled; undefined: drill.replica names a replicate plan instead. */
  readonly repository?: RepositoryConfig;
  readonly vm: { readonly name: string };
  readonly drill: {
    /** 'new': the newest point unless a drill of this plan proved it already. */
    readonly point: RestorePoint | { readonly type: 'new' };
    /** A replicate plan's name: its replica's point is drilled on the replica node (docs/drills.md#a-replicas-point). */
    readonly replica?: string;
    readonly uri: string;
    /** Absolute node directory the drill's own directory is made in. */
    readonly scratch: string;
    /** probe: the tcp check's address (CIDR) in the drill's namespace, isolated only. */
    readonly isolation: { readonly network: 'none' | 'isolated'; readonly probe?: string };
    readonly checks: readonly DrillCheck[];
  };
}

export type Plan = BackupPlan | RestorePlan | VerifyPlan | RecoverPlan | ReplicatePlan | CopyPlan | DrillPlan;

/** A plan that keeps its points in a repository on the hub (every kind but replicate). */
export type RepositoryPlan = Exclude<Plan, ReplicatePlan>;
