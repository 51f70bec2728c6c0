// The XML of a recovered domain (docs/instant-recovery.md): the definition stored with the point,
// renamed, without its UUID and MAC addresses (libvirt makes new ones), each recovered disk on its
// overlay, and no other writable disk (two domains must never write one image).

import { posix } from 'node:path';
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
    const writable = children(devices, 'disk').filter(
      (disk) => (disk.getAttribute('device') || 'disk') === 'disk' && firstChild(disk, 'readonly') === undefined,
    );
    const unmatched = [...disks];
    const matched = new Map<Element, RecoveredDisk>();
    for (const disk of writable) {
      const path = sourcePath(disk);
      const index = unmatched.findIndex((candidate) => candidate.source === path);
      if (index !== -1) matched.set(disk, unmatched.splice(index, 1)[0]!);
    }
    const byTarget = [...writable].sort((a, b) => compareTargets(targetOf(a), targetOf(b)));
    for (const disk of byTarget) if (!matched.has(disk) && unmatched.length > 0) matched.set(disk, unmatched.shift()!);
    if (unmatched.length > 0)
      throw new Error(`the stored definition has no disk for key(s) ${unmatched.map((disk) => disk.key).join(', ')}`);
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
export function minimalDomainXml(
  name: string,
  definition: RecoverDefinition,
  disks: readonly RecoveredDisk[],
): ClonedDomain {
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
  const network =
    definition.network === undefined
      ? ''
      : `<interface type='network'><source network='${xmlText(definition.network)}'/><model type='virtio'/></interface>`;
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
  for (const name of ['source', 'backingStore', 'mirror'])
    for (const element of children(disk, name)) disk.removeChild(element);
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

/** A definition made safe to run beside the original, and what was changed, one line each. */
export interface BesideOriginal {
  readonly xml: string;
  readonly notes: readonly string[];
}

// Character devices of these types reach nothing of the host's own (a new pty, a display's channel).
const PRIVATE_CHAR_TYPES = new Set(['pty', 'null', 'vc', 'spicevmc', 'spiceport', 'qemu-vdagent', 'dbus']);
// Devices that hand the guest something of the host: the original holds them, and a copy must not write into them.
const HOST_DEVICES: Readonly<Record<string, string>> = {
  hostdev: 'host device',
  redirdev: 'redirected host device',
  smartcard: 'smartcard',
  shmem: 'shared memory device',
};

// The definition without the original's host resources (docs/instant-recovery.md, docs/replication.md#testing-a-failover):
// shares, host devices, the files, sockets and ports of serials, consoles, channels and logs, a fixed
// display port or socket, the NVRAM file, a fixed vsock CID, qemu:commandline. A domain that runs
// beside the original must not write into its directories, files or devices, nor take its ports.
export function withoutHostResources(xml: string): BesideOriginal {
  const document = new DOMParser({ onError: () => undefined }).parseFromString(xml, 'text/xml');
  const domain = document.documentElement;
  if (domain === null || domain.nodeName !== 'domain') throw new Error('not a libvirt domain XML document');
  const notes: string[] = [];
  const devices = firstChild(domain, 'devices');
  for (const device of devices === undefined ? [] : elementChildren(devices)) {
    const name = device.nodeName;
    if (name === 'filesystem') {
      devices!.removeChild(device);
      notes.push(
        `host share ${describeSource(device)} (guest tag ${firstChild(device, 'target')?.getAttribute('dir') ?? '?'}) left out: it is the original's`,
      );
    } else if (
      HOST_DEVICES[name] !== undefined ||
      (name === 'input' && ['passthrough', 'evdev'].includes(device.getAttribute('type') ?? ''))
    ) {
      devices!.removeChild(device);
      notes.push(
        `${HOST_DEVICES[name] ?? 'host input device'} ${describeSource(device)} left out: it is the original's`,
      );
    } else if (name === 'tpm' && firstChild(device, 'backend')?.getAttribute('type') === 'passthrough') {
      devices!.removeChild(device);
      notes.push("the host's TPM (passthrough) left out: it is the original's");
    } else if (
      name === 'disk' &&
      (device.getAttribute('device') === 'lun' ||
        (device.getAttribute('device') === 'floppy' && firstChild(device, 'readonly') === undefined))
    ) {
      devices!.removeChild(device);
      notes.push(
        `${device.getAttribute('device')} ${targetOf(device)} (${sourcePath(device) ?? 'no source'}) left out: it is the original's`,
      );
    } else if (name === 'rng' && firstChild(device, 'backend')?.getAttribute('model') === 'egd') {
      devices!.removeChild(device);
      notes.push("random number source from the host's EGD daemon left out: it is the original's");
    } else if (['serial', 'console', 'parallel', 'channel'].includes(name)) {
      privateCharDevice(devices!, device, childText(domain, 'name'), notes);
    } else if (name === 'graphics') {
      privateGraphics(device, notes);
    } else if (name === 'vsock') {
      const cid = firstChild(device, 'cid');
      if (cid !== undefined && cid.getAttribute('auto') === 'no') {
        cid.setAttribute('auto', 'yes');
        cid.removeAttribute('address');
        notes.push("vsock: a new CID, not the original's fixed one");
      }
    }
  }
  const nvram = firstChild(firstChild(domain, 'os') ?? domain, 'nvram');
  if (nvram !== undefined && (nvram.textContent ?? '').trim() !== '') {
    notes.push(`UEFI variables: a new NVRAM file, not the original's ${(nvram.textContent ?? '').trim()}`);
    while (nvram.firstChild) nvram.removeChild(nvram.firstChild);
  }
  for (const commandline of elementChildren(domain).filter((element) => element.localName === 'commandline')) {
    domain.removeChild(commandline);
    notes.push("qemu:commandline left out: its arguments may name the original's files or ports");
  }
  return { xml: new XMLSerializer().serializeToString(document), notes };
}

// A serial, console, parallel port or channel of its own: a file (or log) beside the original's,
// named after the new domain; a pty instead of a device, pipe, socket or port; a guest agent's
// socket one libvirt makes for the new domain. A channel on anything else of the host is left out.
function privateCharDevice(devices: Element, device: Element, domain: string, notes: string[]): void {
  const name = device.nodeName;
  const target = firstChild(device, 'target');
  const which = `${name} ${target?.getAttribute('name') ?? target?.getAttribute('port') ?? ''}`.trim();
  for (const log of children(device, 'log')) {
    const file = log.getAttribute('file');
    if (file === null) continue;
    log.setAttribute('file', ownFile(file, domain));
    notes.push(`${which}: logs to ${ownFile(file, domain)}, not the original's ${file}`);
  }
  const type = device.getAttribute('type') ?? 'pty';
  if (PRIVATE_CHAR_TYPES.has(type)) return;
  const sources = children(device, 'source');
  if (type === 'file' && name !== 'channel') {
    for (const source of sources) {
      const file = source.getAttribute('path');
      if (file === null) continue;
      source.setAttribute('path', ownFile(file, domain));
      notes.push(`${which}: writes to ${ownFile(file, domain)}, not the original's ${file}`);
    }
    return;
  }
  const was =
    `${type} ${sources.map((source) => source.getAttribute('path') ?? `${source.getAttribute('host') ?? ''}:${source.getAttribute('service') ?? ''}`).join(', ')}`.trim();
  if (name === 'channel') {
    // A virtio channel on a unix socket with no path gets a socket of its own from libvirt.
    if (type === 'unix' && target?.getAttribute('type') === 'virtio') {
      if (sources.some((source) => source.hasAttribute('path'))) {
        for (const source of sources) device.removeChild(source);
        notes.push(`${which}: a socket of its own, not the original's ${was}`);
      }
      return;
    }
    devices.removeChild(device);
    notes.push(`${which} (${was}) left out: it is the original's`);
    return;
  }
  for (const source of sources) device.removeChild(source);
  for (const protocol of children(device, 'protocol')) device.removeChild(protocol);
  device.setAttribute('type', 'pty');
  notes.push(`${which}: a pty, not the original's ${was}`);
}

// The new domain's own file beside one of the original's: <dir>/<domain>-<name>.
function ownFile(original: string, domain: string): string {
  return posix.join(posix.dirname(original), `${domain}-${posix.basename(original)}`);
}

// A display on a port (or socket) libvirt chooses, not the original's fixed one.
function privateGraphics(graphics: Element, notes: string[]): void {
  const fixedPort =
    graphics.getAttribute('autoport') === 'no' ||
    ['port', 'tlsPort', 'websocket'].some(
      (name) => graphics.hasAttribute(name) && graphics.getAttribute(name) !== '-1',
    );
  const sockets = [graphics, ...children(graphics, 'listen')].filter((element) => element.hasAttribute('socket'));
  if (!fixedPort && sockets.length === 0) return;
  for (const name of ['port', 'tlsPort', 'websocket']) graphics.removeAttribute(name);
  for (const element of sockets) element.removeAttribute('socket');
  for (const listen of children(graphics, 'listen'))
    if (listen.getAttribute('type') === 'socket') graphics.removeChild(listen);
  graphics.setAttribute('autoport', 'yes');
  notes.push(
    `${graphics.getAttribute('type') ?? 'graphics'} display: a port libvirt chooses, not the original's fixed port or socket`,
  );
}

function elementChildren(parent: Element): Element[] {
  const found: Element[] = [];
  for (let node = parent.firstChild; node !== null; node = node.nextSibling)
    if (node.nodeType === 1) found.push(node as Element);
  return found;
}

// What a device's <source> names on the host: a directory, file, device, address or name.
function describeSource(device: Element): string {
  const source = firstChild(device, 'source');
  if (source === undefined) return `(${device.getAttribute('type') ?? 'no source'})`;
  const address = firstChild(source, 'address');
  const named = ['dir', 'file', 'dev', 'path', 'name', 'evdev'].map((name) => source.getAttribute(name)).find(Boolean);
  if (named) return named;
  if (address !== undefined)
    return [...Array.from({ length: address.attributes.length }, (_, i) => address.attributes.item(i)!)]
      .map((attribute) => `${attribute.name}=${attribute.value}`)
      .join(' ');
  return `(${device.getAttribute('type') ?? 'host'})`;
}

function childText(parent: Element, name: string): string {
  return (firstChild(parent, name)?.textContent ?? '').trim();
}
