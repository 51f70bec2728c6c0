// The XML of a domain restored as new (docs/how-it-works.md#a-restore-as-a-new-libvirt-domain): the
// definition stored with the point cloned as instant recovery clones it (new name, no UUID or MACs,
// each disk on its restored file), none of the original's host resources, and (network: none) no
// network interface, as a drill's domain has none.

import { cloneDomainXml, withoutHostResources, type ClonedDomain, type RecoveredDisk } from './recovered-domain-xml.js';
import { withoutInterfaces } from './replica-domain.js';

export function restoredDomainXml(
  stored: string,
  name: string,
  disks: readonly RecoveredDisk[],
  network: 'none' | 'keep',
): ClonedDomain {
  const cloned = cloneDomainXml(stored, name, disks);
  const beside = withoutHostResources(network === 'none' ? withoutInterfaces(cloned.xml) : cloned.xml);
  const networkNote =
    network === 'none'
      ? 'every network interface left out (restore.target.network: none)'
      : "network interfaces kept on the original's networks, each with a new MAC address (restore.target.network: keep)";
  return { ...cloned, xml: beside.xml, notes: [...cloned.notes, ...beside.notes, networkNote] };
}
