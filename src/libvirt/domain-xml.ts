// What a libvirt domain's XML says of its disks and of the user its QEMU runs as
// (https://libvirt.org/formatdomain.html#hard-drives-floppy-disks-cdroms).

import { DOMParser, type Element } from '@xmldom/xmldom';

/** One <disk> of a domain. */
export interface DomainDisk {
  /** <target dev>: vda, sdb… */
  readonly target: string;
  /** <disk device>: disk, cdrom, floppy, lun. */
  readonly device: string;
  /** <disk type>: file, block, network, volume, nvme… */
  readonly type: string;
  /** <source file> or <source dev>; undefined for an empty drive or a network disk. */
  readonly path?: string;
  /** <driver type>: qcow2, raw… */
  readonly format?: string;
  readonly readOnly: boolean;
  readonly shareable: boolean;
}

export interface DomainDefinition {
  readonly name: string;
  readonly uuid: string;
  readonly disks: readonly DomainDisk[];
  /** uid:gid QEMU runs as (the DAC seclabel of a running domain), when libvirt says. */
  readonly runsAs?: { readonly uid: number; readonly gid: number };
}

export function parseDomainXml(xml: string): DomainDefinition {
  const document = new DOMParser({ onError: () => undefined }).parseFromString(xml, 'text/xml');
  const domain = document.documentElement;
  if (domain === null || domain.nodeName !== 'domain') throw new Error('not a libvirt domain XML document');
  const devices = firstChild(domain, 'devices');
  const disks = devices === undefined ? [] : children(devices, 'disk').map(parseDisk);
  return Object.freeze({
    name: childText(domain, 'name') ?? '',
    uuid: childText(domain, 'uuid') ?? '',
    disks: Object.freeze(disks),
    runsAs: dacLabel(domain),
  });
}

function parseDisk(disk: Element): DomainDisk {
  const source = firstChild(disk, 'source');
  const path = source?.getAttribute('file') || source?.getAttribute('dev') || undefined;
  return Object.freeze({
    target: firstChild(disk, 'target')?.getAttribute('dev') ?? '',
    device: disk.getAttribute('device') || 'disk',
    type: disk.getAttribute('type') || 'file',
    path,
    format: firstChild(disk, 'driver')?.getAttribute('type') || undefined,
    readOnly: firstChild(disk, 'readonly') !== undefined,
    shareable: firstChild(disk, 'shareable') !== undefined,
  });
}

// <seclabel type='dynamic' model='dac' relabel='yes'><label>+64055:+994</label></seclabel>
function dacLabel(domain: Element): { uid: number; gid: number } | undefined {
  for (const label of children(domain, 'seclabel')) {
    if (label.getAttribute('model') !== 'dac') continue;
    const match = /^\+?(\d+):\+?(\d+)$/.exec(childText(label, 'label') ?? '');
    if (match) return { uid: Number(match[1]), gid: Number(match[2]) };
  }
  return undefined;
}

export function children(parent: Element, name: string): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node !== null; node = node.nextSibling)
    if (node.nodeType === 1 && node.nodeName === name) found.push(node as Element);
  return found;
}

export function firstChild(parent: Element, name: string): Element | undefined {
  return children(parent, name)[0];
}

function childText(parent: Element, name: string): string | undefined {
  return firstChild(parent, name)?.textContent?.trim() ?? undefined;
}

// Targets in the order people read them: vda, vdb, …, vdz, vdaa (shorter names first), then by bus prefix.
export function compareTargets(a: string, b: string): number {
  const [pa, sa] = splitTarget(a);
  const [pb, sb] = splitTarget(b);
  if (pa !== pb) return pa < pb ? -1 : 1;
  if (sa.length !== sb.length) return sa.length - sb.length;
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

function splitTarget(target: string): [string, string] {
  const match = /^([a-z]*?d)([a-z]+)$/.exec(target);
  return match ? [match[1]!, match[2]!] : [target, ''];
}
