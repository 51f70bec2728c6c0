// Every plan kind, by the names a plan's `kind` gives it (docs/how-it-works.md#plan-kinds): its
// definition (./kind.ts) is light and loaded with every plan; its run modules are loaded when a run
// needs one, so a CLI start-up pays for no kind it does not run. A new kind is a folder and a line here.

import type { RunContext } from '../engine/run-context.js';
import type { Plan, RepositoryPlan } from '../plan/types.js';
import { loadSourceType } from '../source/source-types.js';
import { backupDefinition } from './backup/definition.js';
import { copyDefinition } from './copy/definition.js';
import { drillDefinition } from './drill/definition.js';
import type { KindCapabilities, KindCapability, KindDefinition, KindModule } from './kind.js';
import { recoverDefinition } from './recover/definition.js';
import { replicateDefinition } from './replicate/definition.js';
import { restoreDefinition } from './restore/definition.js';
import { verifyDefinition } from './verify/definition.js';

// One kind a line.
// prettier-ignore
const KINDS: readonly KindDefinition[] = [
  backupDefinition,
  restoreDefinition,
  verifyDefinition,
  recoverDefinition,
  replicateDefinition,
  copyDefinition,
  drillDefinition,
];

// Kinds registered at run time (registerKind), after the shipped ones.
const registered: KindDefinition[] = [];

/** Every kind: the shipped ones, then any registered. */
export function kindDefinitions(): readonly KindDefinition[] {
  return [...KINDS, ...registered];
}

/** The kind a plan's `kind` value names; undefined for a value no kind takes (or no string). */
export function kindNamed(name: unknown): KindDefinition | undefined {
  return typeof name === 'string' ? kindDefinitions().find((kind) => kind.names.includes(name)) : undefined;
}

/** The kind of a typed plan (which passed the schema, so it has one). */
export function kindOf(plan: Plan): KindDefinition {
  const kind = kindNamed(plan.kind);
  if (kind === undefined) throw new Error(`plan kind '${plan.kind}' has no definition in src/kinds/index.ts`);
  return kind;
}

/** The least API role that may run the plan (docs/api.md#tokens-and-roles): its kind's say, else operator. */
export function planRunRole(plan: Plan): 'restore' | 'operator' {
  return kindOf(plan).runRole?.(plan) ?? 'operator';
}

/** A plan whose points are in a repository on the hub (every kind but those keeping them on a replica). */
export function isRepositoryPlan(plan: Plan): plan is RepositoryPlan {
  return kindOf(plan).pointsOn === 'repository';
}

/** What a plan's kind offers by the name of a capability (KindCapabilities); undefined: its kind offers none. */
export function planCapability<K extends keyof KindCapabilities>(plan: Plan, name: K): KindCapability<K> | undefined {
  const capability = kindOf(plan).capabilities?.[name] as ((plan: Plan) => KindCapability<K>) | undefined;
  return capability?.(plan);
}

/**
 * Adds a kind beside the shipped ones, e.g. a test's own (test/kinds/); returns how to take it
 * back. Its names must be new: a kind never replaces another.
 */
export function registerKind(kind: KindDefinition): () => void {
  const taken = kind.names.find((name) => kindNamed(name) !== undefined);
  if (taken !== undefined) throw new Error(`plan kind '${taken}' is already defined`);
  registered.push(kind);
  return () => {
    const at = registered.indexOf(kind);
    if (at >= 0) registered.splice(at, 1);
  };
}

/** The run module a plan runs, and the reader of the source it reads (when it reads one). */
export async function loadKind(plan: Plan): Promise<KindModule<RunContext>> {
  const kind = kindOf(plan);
  const names = Object.keys(kind.runs);
  const name = kind.runOf?.(plan) ?? names[0];
  const source = 'vm' in plan && 'source' in plan.vm ? plan.vm.source : undefined;
  const [module] = await Promise.all([kind.runs[name](), source && loadSourceType(source.type)]);
  return module;
}

/** Every run module of every kind (the docs name each kind's steps). */
export async function allKinds(): Promise<readonly KindModule<RunContext>[]> {
  const loads = kindDefinitions().flatMap((kind) => Object.values(kind.runs));
  return Promise.all(loads.map((load) => load()));
}
