// The replica domain on the replica node (docs/replication.md#the-replica-domain): the VM's own
// definition renamed, new MACs, each disk on replica.path (the newest point), replica.changes
// made, defined and never
// started by a sync. Redefined in place (same UUID) when the VM's definition changes; a domain of
// that name whose disks are not the replica's is never touched.

import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { SendenseError } from '../errors.js';
import type { DomainChanges, RecoverDefinition } from '../plan/types.js';
import { isReplicaImage } from '../replica/replica-layout.js';
import { applyDomainChanges, interfaceNetworks, memoryBytes } from './domain-changes.js';
import { children, firstChild, parseDomainXml } from './domain-xml.js';
import { cloneDomainXml, minimalDomainXml, type ClonedDomain, type RecoveredDisk } from './recovered-domain-xml.js';
import type { Virsh } from './virsh.js';

export interface ReplicaDomainSpec {
  readonly domain: string;
  /** The VM's XML (a libvirt source), if it has one. */
  readonly stored?: string;
  /** The plan's definition: used when there is no XML or it says `use: plan`. */
  readonly definition?: RecoverDefinition;
  /** Each disk: its source path in the VM's XML and its replica.path. */
  readonly disks: readonly RecoveredDisk[];
  /** replica.changes: made to whichever definition it is. */
  readonly changes?: DomainChanges;
}

// The XML the replica domain is defined from, replica.changes made.
export function replicaDomainXml(spec: ReplicaDomainSpec): ClonedDomain {
  const made = baseDomainXml(spec);
  if (spec.changes === undefined) return made;
  const changed = applyDomainChanges(made.xml, spec.changes);
  return { ...made, xml: changed.xml, notes: [...made.notes, ...changed.notes] };
}

function baseDomainXml(spec: ReplicaDomainSpec): ClonedDomain {
  const usePlan = spec.definition !== undefined && (spec.stored === undefined || spec.definition.use === 'plan');
  if (usePlan) return minimalDomainXml(spec.domain, spec.definition!, spec.disks);
  if (spec.stored === undefined)
    throw new SendenseError(
      `the VM has no domain XML of its own: replica.definition says what ${spec.domain} is (memory, vcpus, bus)`,
    );
  return cloneDomainXml(spec.stored, spec.domain, spec.disks);
}

/** What replica.changes decides in a definition: its memory, vCPUs and networks, to tell whether a defined domain has them. */
export function changedParts(xml: string): string {
  const document = new DOMParser({ onError: () => undefined }).parseFromString(xml, 'text/xml');
  const domain = document.documentElement;
  if (domain === null) return '';
  const text = (name: string) => (firstChild(domain, name)?.textContent ?? '').trim();
  const memory = firstChild(domain, 'memory');
  const networks = interfaceNetworks(xml).map((on) => (on === undefined ? 'other' : `${on.type}:${on.name}`));
  // In MiB: libvirt may round what it is given.
  const mib = memory === undefined ? 0 : Math.round(memoryBytes(memory) / 1024 ** 2);
  return JSON.stringify([mib, text('vcpu'), networks]);
}

/** The replica domain as the replica node has it: absent, or its UUID and whether it runs. */
export type ReplicaDomainState =
  | { readonly exists: false }
  | {
      readonly exists: true;
      readonly uuid: string;
      readonly running: boolean;
      readonly state: string;
      readonly disks: readonly string[];
    };

export async function replicaDomainState(virsh: Virsh, domain: string): Promise<ReplicaDomainState> {
  const state = await virsh.attempt(['domstate', domain]);
  if (state.exitCode !== 0) return { exists: false };
  const xml = parseDomainXml(await virsh.run(['dumpxml', '--inactive', domain], `read the definition of ${domain}`));
  const text = state.stdout.trim();
  return {
    exists: true,
    uuid: xml.uuid,
    running: !/^(shut off|crashed)$/.test(text),
    state: text,
    disks: xml.disks.flatMap((disk) => (disk.path ? [disk.path] : [])),
  };
}

// Defines it (or redefines it under its UUID). Refuses a domain of that name that is not this replica's.
export async function defineReplicaDomain(
  virsh: Virsh,
  xml: string,
  domain: string,
  replicaPaths: readonly string[],
): Promise<'defined' | 'updated'> {
  const current = await replicaDomainState(virsh, domain);
  if (current.exists) {
    const foreign = current.disks.filter((disk) => !replicaPaths.some((path) => isReplicaImage(disk, path)));
    if (foreign.length > 0 || current.disks.length === 0) {
      throw new SendenseError(
        `a domain ${domain} exists on the replica node and is not this replica (its disks: ${current.disks.join(', ') || 'none'}): choose another replica.domain`,
      );
    }
    if (current.running)
      throw new SendenseError(
        `the replica domain ${domain} is ${current.state}: its definition is not changed under it`,
      );
  }
  const withUuid = current.exists ? xml.replace('</name>', `</name><uuid>${current.uuid}</uuid>`) : xml;
  await virsh.runWithXml(['define', '--file'], withUuid, `define the replica domain ${domain}`);
  return current.exists ? 'updated' : 'defined';
}

// The definition with no network interface at all: a failover test must never reach the VM's networks (docs/replication.md#failover).
export function withoutInterfaces(xml: string): string {
  const document = new DOMParser({ onError: () => undefined }).parseFromString(xml, 'text/xml');
  const devices = document.documentElement === null ? undefined : firstChild(document.documentElement, 'devices');
  for (const iface of devices === undefined ? [] : children(devices, 'interface')) devices!.removeChild(iface);
  return new XMLSerializer().serializeToString(document);
}
