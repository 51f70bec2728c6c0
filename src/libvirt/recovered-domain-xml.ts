// The XML of a recovered domain (docs/instant-recovery.md): the definition stored with the point,
// renamed, without its UUID and MAC addresses (libvirt makes new ones), each recovered disk on its
// overlay, and no other writable disk (two domains must never write one image).

import { DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom';
import type { RecoverDefinition } from '../plan/types.js';
import { children, compareTargets, firstChild } from './domain-xml.js';
import { xmlText } from './virsh.js';

/** A recovered disk: the stored domain's disk it stands for (by its source path, else its target) and its new image. */
export interface RecoveredDisk {
  readonly key: number;
  /** The source image the backup read (BackupDisk.source). */
  readonly source: string;
  /** The image the new domain uses: an overlay over the served point, or the moved file. */
  readonly image: string;
}

export interface ClonedDomain {
  readonly xml: string;
  /** Each recovered disk's target in the new domain. */
  readonly targets: ReadonlyMap<number, string>;
  /** What was left out or changed, one line each. */
  readonly notes: readonly string[];
}

// Recovered disks not found by source path take the remaining writable disks in target order (keys 2000, 2001…).
export function cloneDomainXml(stored: string, name: string, disks: readonly RecoveredDisk[]): ClonedDomain {
  const document = new DOMParser({ onError: () => undefined }).parseFromString(stored, 'text/xml');
  const domain = document.documentElement;
  if (domain === null || domain.nodeName !== 'domain') throw new Error('not a libvirt domain XML document');
  const notes: string[] = [];
  setChildText(domain, 'name', name);
  for (const uuid of children(domain, 'uuid')) domain.removeChild(uuid);
  const devices = firstChild(domain, 'devices');
  const targets = new Map<number, string>();
  if (devices !== undefined) {
    for (const iface of children(devices, 'interface')) {
      for (const mac of children(iface, 'mac')) iface.removeChild(mac);
      // A live definition's tap name would collide with the original's.
      for (const target of children(iface, 'target')) iface.removeChild(target);
    }
    const writable = children(devices, 'disk').filter((disk) => (disk.getAttribute('device') || 'disk') === 'disk' && firstChild(disk, 'readonly') === undefined);
    const unmatched = [...disks];
    const matched = new Map<Element, RecoveredDisk>();
    for (const disk of writable) {
      const path = sourcePath(disk);
      const index = unmatched.findIndex((candidate) => candidate.source === path);
      if (index !== -1) matched.set(disk, unmatched.splice(index, 1)[0]!);
    }
    const byTarget = [...writable].sort((a, b) => compareTargets(targetOf(a), targetOf(b)));
    for (const disk of byTarget) if (!matched.has(disk) && unmatched.length > 0) matched.set(disk, unmatched.shift()!);
    if (unmatched.length > 0) throw new Error(`the stored definition has no disk for key(s) ${unmatched.map((disk) => disk.key).join(', ')}`);
    for (const disk of writable) {
      const recovered = matched.get(disk);
      const target = targetOf(disk);
      if (recovered === undefined) {
        devices.removeChild(disk);
        notes.push(`disk ${target} (${sourcePath(disk) ?? 'no source'}) was not recovered: left out of the new domain`);
        continue;
      }
      useImage(disk, recovered.image);
      targets.set(recovered.key, target);
    }
  }
  return { xml: new XMLSerializer().serializeToString(document), targets, notes };
}

// A domain for a point without stored XML: the plan's memory, CPUs, bus and firmware; disks in key order.
export function minimalDomainXml(name: string, definition: RecoverDefinition, disks: readonly RecoveredDisk[]): ClonedDomain {
  const prefix = definition.bus === 'virtio' ? 'vd' : 'sd';
  const targets = new Map<number, string>();
  const diskXml = [...disks]
    .sort((a, b) => a.key - b.key)
    .map((disk, index) => {
      const target = `${prefix}${String.fromCharCode(97 + index)}`;
      targets.set(disk.key, target);
      return `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${xmlText(disk.image)}'/><target dev='${target}' bus='${definition.bus}'/></disk>`;
    });
  const scsi = definition.bus === 'scsi' ? "<controller type='scsi' model='virtio-scsi'/>" : '';
  const network = definition.network === undefined ? '' : `<interface type='network'><source network='${xmlText(definition.network)}'/><model type='virtio'/></interface>`;
  const firmware = definition.firmware === 'efi' ? " firmware='efi'" : '';
  const xml = `<domain type='${definition.virtualization}'>
  <name>${xmlText(name)}</name>
  <memory unit='KiB'>${Math.ceil(definition.memory / 1024)}</memory>
  <vcpu>${definition.vcpus}</vcpu>
  <os${firmware}><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <devices>
    ${[...diskXml, scsi, network, "<serial type='pty'/>", "<console type='pty'/>", "<graphics type='vnc' listen='127.0.0.1' autoport='yes'/>"].filter(Boolean).join('\n    ')}
  </devices>
</domain>`;
  return { xml, targets, notes: [] };
}

// The definition with each listed disk on another image (the move: overlays replaced by storage).
export function replaceDiskImages(xml: string, images: ReadonlyMap<string, string>): string {
  const document = new DOMParser({ onError: () => undefined }).parseFromString(xml, 'text/xml');
  const devices = document.documentElement === null ? undefined : firstChild(document.documentElement, 'devices');
  for (const disk of devices === undefined ? [] : children(devices, 'disk')) {
    const image = images.get(firstChild(disk, 'target')?.getAttribute('dev') ?? '');
    if (image !== undefined) useImage(disk, image);
  }
  return new XMLSerializer().serializeToString(document);
}

// A file disk in qcow2 on `image`: the old source, its backing chain and any live-only state dropped.
function useImage(disk: Element, image: string): void {
  const document = disk.ownerDocument!;
  disk.setAttribute('type', 'file');
  for (const name of ['source', 'backingStore', 'mirror']) for (const element of children(disk, name)) disk.removeChild(element);
  let driver = firstChild(disk, 'driver');
  if (driver === undefined) {
    driver = document.createElement('driver');
    driver.setAttribute('name', 'qemu');
    disk.insertBefore(driver, disk.firstChild);
  }
  driver.setAttribute('type', 'qcow2');
  const source = document.createElement('source');
  source.setAttribute('file', image);
  disk.insertBefore(source, driver.nextSibling);
}

function targetOf(disk: Element): string {
  return firstChild(disk, 'target')?.getAttribute('dev') ?? '?';
}

function sourcePath(disk: Element): string | undefined {
  const source = firstChild(disk, 'source');
  return source?.getAttribute('file') || source?.getAttribute('dev') || undefined;
}

function setChildText(parent: Element, name: string, text: string): void {
  const element = firstChild(parent, name);
  if (element === undefined) throw new Error(`the domain XML has no <${name}>`);
  while (element.firstChild) element.removeChild(element.firstChild);
  element.appendChild(parent.ownerDocument!.createTextNode(text));
}
