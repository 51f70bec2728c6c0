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
import { vmwareSourceDefinition } from './vmware-definition.js';

const SOURCE_TYPES: { readonly [T in Source['type']]: SourceDefinition<Extract<Source, { type: T }>> } = {
  qemu: qemuSourceDefinition,
  nbd: nbdSourceDefinition,
  vmware: vmwareSourceDefinition,
  libvirt: libvirtSourceDefinition,
};

/** The definition of a type as a plan writes it (raw data: anything); undefined: no such type. */
export function sourceDefinitionOf(type: unknown): SourceDefinition | undefined {
  return typeof type === 'string' && Object.hasOwn(SOURCE_TYPES, type)
    ? (SOURCE_TYPES[type as Source['type']] as unknown as SourceDefinition)
    : undefined;
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

export function buildSourceOfType(raw: RawSource, vmName: string): Source {
  return (SOURCE_TYPES[raw.type] as unknown as SourceDefinition).build(raw as never, vmName);
}

export function openBackupSource(source: Source): BackupSource {
  return (SOURCE_TYPES[source.type] as unknown as SourceDefinition).open(source);
}
