// Turns plan data that passed every check into the typed Plan: defaults filled in, ports and
// durations parsed, ~ expanded. Only called on valid data, so it trusts the shapes.

import { parseDuration } from './duration.js';
import { hookCommandRefs } from './env-refs.js';
import { expandHome } from './home-path.js';
import type { RepositoryConfig } from '../repository/repository-settings.js';
import { parseRestorePoint } from './restore-point.js';
import { deepFreeze } from './deep-freeze.js';
import { parseMemory } from '../format/byte-size.js';
import { parseRate } from '../rate/rate-text.js';
import { buildNotify, type RawNotify } from '../notify/notify-settings.js';
import type { CopySettings, FilesTarget, ObjectLock, Hook, Hooks, LibvirtSource, NodeSpec, Plan, RecoverDefinition, ReplicaSettings, RestorePoint, RestoreTarget, Source } from './types.js';
import { hideFromChildren } from '../process/child-env.js';

export const DEFAULT_PORTS = '10100-10200';
export const DEFAULT_SHARED = 10;
export const DEFAULT_CLIENT_PATH = '/usr/local/bin/sendense-backup-client';
export const DEFAULT_LIBVIRT_URI = 'qemu:///system';
// World-searchable and on disk on every distribution: QEMU's user must reach the run's directory in it.
export const DEFAULT_LIBVIRT_SCRATCH = '/var/tmp';
export const DEFAULT_KNOWN_HOSTS = '~/.ssh/known_hosts';
export const DEFAULT_REPLICA_POINTS = 3;

// The raw shapes as the schema guarantees them (only what building needs).
interface RawHook {
  run: string;
  on?: 'hub' | 'node';
}
type RawNode = { host: string; port?: number; user: string; identityFile?: string; knownHosts?: string };
interface RawCopyTo {
  type: 'ssh' | 's3';
  node?: RawNode;
  path?: string;
  endpoint?: string;
  bucket?: string;
  prefix?: string;
  region?: string;
  accessKeyIdEnv?: string;
  secretAccessKeyEnv?: string;
  credentialsFile?: string;
  profile?: string;
  objectLock?: ObjectLock;
}

interface RawPlan {
  kind: Plan['kind'];
  name: string;
  description?: string;
  schedule?: string;
  timezone?: string;
  catchUp?: 'none' | 'latest';
  /** Absent only for kind copy (every VM of the repository). */
  vm: { name: string; source?: Source & { clientPath?: string; passwordFile?: string } };
  verify?: { vm: string; outdatedAfter?: string };
  copy?: { to: RawCopyTo; verify?: boolean; retention?: Omit<NonNullable<RawPlan['retention']>, 'keepChains'> };
  node?: RawNode;
  /** Absent only for kind replicate. */
  repository?: { path: string; encryption?: { keyFile?: string; keyEnv?: string }; compression?: 'zstd' | 'none' };
  nbd?: { ports?: string; shared?: number };
  incremental?: { onMissingChain?: 'full' | 'fail'; maxChainLength?: number };
  retention?: { keepChains?: number; keepLast?: number; keepDaily?: number; keepWeekly?: number; keepMonthly?: number; keepYearly?: number };
  hooks?: Partial<Record<keyof Hooks, RawHook[]>>;
  timeouts?: { transfer?: string };
  metricsFile?: string;
  rate?: string;
  notify?: RawNotify;
  recover?: {
    point?: string;
    disks?: number[];
    to: { uri?: string; domain: string; storage: string; scratch?: string; definition?: RawDefinition };
    start?: boolean;
    moveStorage?: boolean;
  };
  replica?: { node?: RawNode; path: string; points?: number; domain?: string; uri?: string; scratch?: string; definition?: RawDefinition };
  restore?: {
    point?: string;
    disks?: number[];
    target:
      { type: 'file'; path: string; format?: 'qcow2' | 'raw'; overwrite?: boolean; mode?: string } | { type: 'nbd'; url: string } | { type: 'files'; paths: string[]; to: string; overwrite?: boolean };
    verify?: boolean;
  };
}

interface RawDefinition {
  use?: 'stored' | 'plan';
  memory: string;
  vcpus: number;
  bus?: 'virtio' | 'sata' | 'scsi';
  virtualization?: 'kvm' | 'qemu';
  firmware?: 'bios' | 'efi';
  network?: string;
}

// env: where a run's `${NAME}` values come from (hook commands get theirs in their environment).
export function buildPlan(data: unknown, file: string, envRefs: readonly string[], env: NodeJS.ProcessEnv = {}): Plan {
  const raw = data as RawPlan;
  const [first, last] = (raw.nbd?.ports ?? DEFAULT_PORTS).split('-').map(Number);
  const common = {
    version: 1 as const,
    name: raw.name,
    description: raw.description,
    schedule: raw.schedule,
    timezone: raw.timezone,
    catchUp: raw.catchUp ?? 'none',
    node: raw.node === undefined ? undefined : buildNode(raw.node),
    nbd: { ports: { first, last }, shared: raw.nbd?.shared ?? DEFAULT_SHARED },
    hooks: buildHooks(raw.hooks ?? {}, env),
    timeouts: { transfer: raw.timeouts?.transfer === undefined ? undefined : parseDuration(raw.timeouts.transfer) },
    metricsFile: raw.metricsFile === undefined ? undefined : expandHome(raw.metricsFile),
    rate: raw.rate === undefined ? undefined : parseRate(raw.rate),
    notify: raw.notify === undefined ? undefined : buildNotify(raw.notify),
    origin: { file },
    envRefs: [...envRefs],
  };
  if (raw.kind === 'replicate') {
    return deepFreeze({
      ...common,
      kind: 'replicate',
      vm: { name: raw.vm.name, source: buildSource(raw.vm.source!, raw.vm.name) },
      replica: buildReplica(raw.replica!, raw.vm),
    });
  }
  const base = { ...common, repository: buildRepository(raw.repository!) };
  if (raw.kind === 'copy') {
    const copy = raw.copy!;
    const vm = (raw.vm as RawPlan['vm'] | undefined)?.name;
    return deepFreeze({
      ...base,
      kind: 'copy',
      vm: { name: vm ?? 'all' },
      copy: { vm, to: buildCopyTo(copy.to), verify: copy.verify ?? true, ...(copy.retention && { retention: copy.retention }) },
    });
  }
  if (raw.kind === 'verify') {
    const verify = raw.verify!;
    return deepFreeze({
      ...base,
      kind: 'verify',
      vm: { name: verify.vm },
      verify: {
        vm: verify.vm === 'all' ? undefined : verify.vm,
        outdatedAfter: verify.outdatedAfter === undefined ? undefined : parseDuration(verify.outdatedAfter),
      },
    });
  }
  if (raw.kind === 'recover') {
    const recover = raw.recover!;
    const { to } = recover;
    return deepFreeze({
      ...base,
      kind: 'recover',
      vm: { name: raw.vm.name },
      recover: {
        point: parseRestorePoint(recover.point ?? 'latest') as RestorePoint,
        disks: recover.disks,
        to: {
          type: 'libvirt',
          uri: to.uri ?? DEFAULT_LIBVIRT_URI,
          domain: to.domain,
          storage: to.storage,
          scratch: to.scratch ?? DEFAULT_LIBVIRT_SCRATCH,
          definition: to.definition === undefined ? undefined : buildDefinition(to.definition),
        },
        start: recover.start ?? true,
        moveStorage: recover.moveStorage ?? false,
      },
    });
  }
  if (raw.kind === 'restore') {
    const restore = raw.restore!;
    return deepFreeze({
      ...base,
      kind: 'restore',
      vm: { name: raw.vm.name },
      restore: {
        point: parseRestorePoint(restore.point ?? 'latest') as RestorePoint,
        disks: restore.disks,
        target: buildTarget(restore.target),
        verify: restore.verify ?? true,
      },
    });
  }
  return deepFreeze({
    ...base,
    kind: raw.kind,
    vm: { name: raw.vm.name, source: buildSource(raw.vm.source!, raw.vm.name) },
    incremental: {
      onMissingChain: raw.incremental?.onMissingChain ?? 'full',
      // Points merged away by keep-* rules: no need to start a new chain ever.
      maxChainLength: raw.incremental?.maxChainLength ?? (raw.retention !== undefined && raw.retention.keepChains === undefined ? Infinity : 30),
    },
    retention: raw.retention,
  });
}

function buildDefinition(definition: RawDefinition): RecoverDefinition {
  return {
    use: definition.use ?? 'stored',
    memory: parseMemory(definition.memory)!,
    vcpus: definition.vcpus,
    bus: definition.bus ?? 'virtio',
    virtualization: definition.virtualization ?? 'kvm',
    firmware: definition.firmware ?? 'bios',
    network: definition.network,
  };
}

function buildReplica(replica: NonNullable<RawPlan['replica']>, vm: RawPlan['vm']): ReplicaSettings {
  return {
    node: replica.node === undefined ? undefined : buildNode(replica.node),
    path: replica.path,
    points: replica.points ?? DEFAULT_REPLICA_POINTS,
    domain: replicaDomain(replica, vm.name, vm.source?.type),
    uri: replica.uri ?? DEFAULT_LIBVIRT_URI,
    scratch: replica.scratch ?? DEFAULT_LIBVIRT_SCRATCH,
    definition: replica.definition === undefined ? undefined : buildDefinition(replica.definition),
  };
}

// The replica's domain: as given, else <vm.name>-replica when there is XML to define it from (a
// libvirt source's, or the plan's definition), else none. The checks use it too.
export function replicaDomain(replica: { readonly domain?: unknown; readonly definition?: unknown }, vmName: string, sourceType: unknown): string | undefined {
  if (typeof replica.domain === 'string') return replica.domain;
  if (sourceType !== 'libvirt' && replica.definition === undefined) return undefined;
  return `${vmName}-replica`;
}

function buildCopyTo(to: RawCopyTo): CopySettings['to'] {
  if (to.type === 'ssh') return { type: 'ssh', node: buildNode(to.node!), path: to.path! };
  const credentials =
    to.credentialsFile !== undefined
      ? { file: expandHome(to.credentialsFile), profile: to.profile ?? 'default' }
      : hiddenS3Names({ accessKeyIdEnv: to.accessKeyIdEnv!, secretAccessKeyEnv: to.secretAccessKeyEnv! });
  return {
    type: 's3',
    endpoint: to.endpoint!.replace(/\/$/, ''),
    bucket: to.bucket!,
    prefix: to.prefix ?? '',
    region: to.region ?? 'us-east-1',
    credentials,
    ...(to.objectLock && { objectLock: to.objectLock }),
  };
}

function buildNode(node: RawNode): NodeSpec {
  return {
    host: node.host,
    port: node.port ?? 22,
    user: node.user,
    identityFile: node.identityFile === undefined ? undefined : expandHome(node.identityFile),
    knownHosts: expandHome(node.knownHosts ?? DEFAULT_KNOWN_HOSTS),
  };
}

function buildSource(source: NonNullable<RawPlan['vm']['source']>, vmName: string): Source {
  if (source.type === 'libvirt') {
    const raw = source as Partial<LibvirtSource> & { type: 'libvirt' };
    return {
      type: 'libvirt',
      domain: raw.domain ?? vmName,
      uri: raw.uri ?? DEFAULT_LIBVIRT_URI,
      quiesce: raw.quiesce ?? 'auto',
      scratch: raw.scratch ?? DEFAULT_LIBVIRT_SCRATCH,
      disks: raw.disks ?? [],
    };
  }
  if (source.type !== 'vmware') return source;
  return {
    ...source,
    passwordFile: source.passwordFile === undefined ? undefined : expandHome(source.passwordFile),
    clientPath: source.clientPath ?? DEFAULT_CLIENT_PATH,
  };
}

function buildHooks(hooks: NonNullable<RawPlan['hooks']>, env: NodeJS.ProcessEnv): Hooks {
  const build = (hook: RawHook): Hook => {
    const { names, command } = hookCommandRefs(hook.run);
    const values = names.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]] as const]));
    return { run: command, on: hook.on ?? 'hub', env: Object.fromEntries(values) };
  };
  const list = (entries: RawHook[] | undefined): Hook[] => (entries ?? []).map(build);
  return { before: list(hooks.before), after: list(hooks.after), onFailure: list(hooks.onFailure), always: list(hooks.always) };
}

function buildTarget(target: NonNullable<RawPlan['restore']>['target']): RestoreTarget | FilesTarget {
  if (target.type === 'nbd') return { type: 'nbd', url: target.url };
  if (target.type === 'files') return { type: 'files', paths: [...target.paths], to: expandHome(target.to), overwrite: target.overwrite ?? false };
  return { type: 'file', path: target.path, format: target.format ?? 'qcow2', overwrite: target.overwrite ?? false, mode: parseInt(target.mode ?? '0600', 8) };
}

function buildRepository(raw: NonNullable<RawPlan['repository']>): RepositoryConfig {
  const { encryption } = raw;
  // Named as a secret: no child of this process gets it, from the moment a plan names it.
  hideFromChildren(encryption?.keyEnv);
  return {
    path: expandHome(raw.path),
    ...(encryption?.keyFile !== undefined && { encryption: { keyFile: expandHome(encryption.keyFile) } }),
    ...(encryption?.keyEnv !== undefined && { encryption: { keyEnv: encryption.keyEnv } }),
    ...(raw.compression !== undefined && { compression: raw.compression }),
  };
}

// An object store's key variables, kept out of every child's environment from now on.
function hiddenS3Names<T extends { readonly accessKeyIdEnv: string; readonly secretAccessKeyEnv: string }>(names: T): T {
  hideFromChildren(names.accessKeyIdEnv, names.secretAccessKeyEnv);
  return names;
}
