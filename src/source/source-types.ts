// Every type of backup source (vm.source.type), one definition each: a new one is a module in this
// folder and a line in SOURCE_TYPES. The rest of the hub asks a source what it can do by name
// (sourceCan) and never compares its type (test/ci/source-type-seam.test.ts).

import type { RawSource } from '../plan/plan-shape.generated.js';
import type { LibvirtSource, Source } from '../plan/types.js';
import type { BackupSource } from './backup-source.js';
import { libvirtSourceDefinition } from './libvirt-definition.js';
import { nbdSourceDefinition } from './nbd-definition.js';
import { qemuSourceDefinition } from './qemu-definition.js';
import type { SourceCapabilities, SourceDefinition } from './source-definition.js';
import { backupSourceOf } from './source-facets.js';
import { vmwareSourceDefinition } from './vmware-definition.js';

// One type a line.
const SOURCE_TYPES: { readonly [T in Source['type']]: SourceDefinition<Extract<Source, { type: T }>> } = {
  qemu: qemuSourceDefinition,
  nbd: nbdSourceDefinition,
  vmware: vmwareSourceDefinition,
  libvirt: libvirtSourceDefinition,
};

// Types registered at run time (registerSourceType: a test's own), after the shipped ones.
const registered: SourceDefinition[] = [];

/** Every source type: the shipped ones, then any registered. */
export function sourceDefinitions(): readonly SourceDefinition[] {
  return [...(Object.values(SOURCE_TYPES) as unknown as SourceDefinition[]), ...registered];
}

/** The definition of a type as a plan writes it (raw data: anything); undefined: no such type. */
export function sourceDefinitionOf(type: unknown): SourceDefinition | undefined {
  if (typeof type !== 'string') return undefined;
  if (Object.hasOwn(SOURCE_TYPES, type)) return SOURCE_TYPES[type as Source['type']] as unknown as SourceDefinition;
  return registered.find((definition) => definition.type === type);
}

/**
 * Adds a source type beside the shipped ones, e.g. a test's own (test/source/test-source/); returns
 * how to take it back. Only code in this process can: a plan can never name a type that is not
 * shipped or registered (the schema refuses it). Its type must be new and it must bring its schema part.
 */
export function registerSourceType(definition: SourceDefinition): () => void {
  if (sourceDefinitionOf(definition.type) !== undefined)
    throw new Error(`source type '${definition.type}' is already defined`);
  if (definition.schema === undefined) throw new Error(`source type '${definition.type}' has no schema part`);
  registered.push(definition);
  return () => {
    const at = registered.indexOf(definition);
    if (at >= 0) registered.splice(at, 1);
  };
}

/** Whether a source (or a type as a plan or a record writes it) can do what `name` says; an unknown type can nothing. */
export function sourceCan(source: Source | unknown, name: keyof SourceCapabilities): boolean {
  const type = typeof source === 'object' && source !== null ? (source as { type?: unknown }).type : source;
  return sourceDefinitionOf(type)?.capabilities[name] === true;
}

/** A source that is a libvirt domain (capability hasLibvirtDomain), typed as one. */
export function isLibvirtDomainSource(source: Source): source is LibvirtSource {
  return sourceCan(source, 'hasLibvirtDomain');
}

// The plan passed the schema, which knows only these types: no definition is a bug.
function definitionOfValid(type: string): SourceDefinition {
  const definition = sourceDefinitionOf(type);
  if (definition === undefined)
    throw new Error(`source type '${type}' has no definition in src/source/source-types.ts`);
  return definition;
}

export function buildSourceOfType(raw: RawSource, vmName: string): Source {
  return definitionOfValid(raw.type).build(raw as never, vmName);
}

/** Before a run of this type opens its source: its reader's module, when it has one of its own (lazyOpen). */
export async function loadSourceType(type: string): Promise<void> {
  await definitionOfValid(type).load?.();
}

export function openBackupSource(source: Source): BackupSource {
  return backupSourceOf(definitionOfValid(source.type).open(source));
}
