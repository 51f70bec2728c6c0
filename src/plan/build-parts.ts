// The parts of a typed plan that more than one kind builds (src/plan/build-plan.ts builds the
// common part, each kind's builder in src/kinds its own blocks): defaults filled in, ~ expanded.
// Only called on valid data, so it trusts the shapes.

import { parseDuration } from './duration.js';
import { hookCommandRefs } from './env-refs.js';
import { expandHome } from './home-path.js';
import type { RepositoryConfig } from '../repository/repository-settings.js';
import { parseMemory } from '../format/byte-size.js';
import { parseRate } from '../rate/rate-text.js';
import { buildNotify } from '../notify/notify-settings.js';
import type {
  RawBusy,
  RawHookList,
  RawHooks,
  RawNode,
  RawPlan,
  RawRecoverDefinition,
  RawRepository,
  RawSource,
} from './plan-shape.generated.js';
import {
  DEFAULT_BUSY,
  type BusyPolicy,
  type Hook,
  type Hooks,
  type NodeSpec,
  type PlanBase,
  type RecoverDefinition,
  type Source,
} from './types.js';
import { hideFromChildren } from '../process/child-env.js';
import { buildSourceOfType } from '../source/source-types.js';

export const DEFAULT_PORTS = '10100-10200';
export const DEFAULT_SHARED = 10;
export { DEFAULT_CLIENT_PATH, DEFAULT_LIBVIRT_SCRATCH, DEFAULT_LIBVIRT_URI } from './plan-defaults.js';
export const DEFAULT_KNOWN_HOSTS = '~/.ssh/known_hosts';

/** The part of a typed plan every kind has but its repository (replicate has none). */
export type PlanCommon = Omit<PlanBase, 'repository'>;

// env: where a run's `${NAME}` values come from (hook commands get theirs in their environment).
export function buildCommon(
  raw: RawPlan,
  file: string,
  envRefs: readonly string[],
  env: NodeJS.ProcessEnv,
): PlanCommon {
  const [first, last] = (raw.nbd?.ports ?? DEFAULT_PORTS).split('-').map(Number);
  return {
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
    busy: buildBusy(raw.busy),
    origin: { file },
    envRefs: [...envRefs],
  };
}

// busy: skip | fail | { wait: 45m }; default DEFAULT_BUSY (docs/how-it-works.md#busy-vms).
function buildBusy(raw: RawBusy | undefined): BusyPolicy {
  if (raw === undefined) return DEFAULT_BUSY;
  if (raw === 'skip' || raw === 'fail') return { action: raw };
  return { action: 'wait', waitMs: parseDuration(raw.wait)! };
}

export function buildDefinition(definition: RawRecoverDefinition): RecoverDefinition {
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

export function buildNode(node: RawNode): NodeSpec {
  return {
    host: node.host,
    port: node.port ?? 22,
    user: node.user,
    identityFile: node.identityFile === undefined ? undefined : expandHome(node.identityFile),
    knownHosts: expandHome(node.knownHosts ?? DEFAULT_KNOWN_HOSTS),
  };
}

// Filled in by the source's own definition (src/source): its type's defaults.
export function buildSource(source: RawSource, vmName: string): Source {
  return buildSourceOfType(source, vmName);
}

function buildHooks(hooks: RawHooks, env: NodeJS.ProcessEnv): Hooks {
  const build = (hook: RawHookList[number]): Hook => {
    const { names, command } = hookCommandRefs(hook.run);
    const values = names.flatMap((name) => (env[name] === undefined ? [] : [[name, env[name]] as const]));
    return { run: command, on: hook.on ?? 'hub', env: Object.fromEntries(values) };
  };
  const list = (entries: RawHookList | undefined): Hook[] => (entries ?? []).map(build);
  return {
    before: list(hooks.before),
    after: list(hooks.after),
    onFailure: list(hooks.onFailure),
    always: list(hooks.always),
  };
}

export function buildRepository(raw: RawRepository): RepositoryConfig {
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
