// The XML of a drill's domain (docs/drills.md#isolation): the definition stored with the point,
// cloned as instant recovery clones it (new name, no UUID or MACs, each disk on its overlay), made
// safe beside the original (none of its shares, devices, files or ports), and further: no network
// interface (or, isolated, each on the drill's own bridge: ./drill-interfaces.ts), no display a network reaches (a VGA adapter only, for the screenshot), one serial
// console into the drill's own file, and a domain that ends when the guest powers off, reboots or
// crashes (a panicking kernel with panic=N reboots).

import { DOMParser, XMLSerializer, type Element } from '@xmldom/xmldom';
import { children, firstChild } from './domain-xml.js';
import { cloneDomainXml, withoutHostResources, type RecoveredDisk } from './recovered-domain-xml.js';
import { withoutInterfaces } from './replica-domain.js';
import { appendTapInterfaces, storedInterfaces } from './drill-interfaces.js';

export interface DrillDomain {
  readonly xml: string;
  /** What was left out or changed, one line each. */
  readonly notes: readonly string[];
}

export function drillDomainXml(
  stored: string,
  name: string,
  disks: readonly RecoveredDisk[],
  consoleFile: string,
  description: string,
  /** isolation.network: isolated: the drill's own bridge and its taps; else no interface at all. */
  network?: { readonly bridge: string; readonly taps: readonly string[] },
): DrillDomain {
  const cloned = cloneDomainXml(stored, name, disks);
  const beside = withoutHostResources(withoutInterfaces(cloned.xml));
  const interfaces = network === undefined ? [] : storedInterfaces(stored);
  const notes = [
    ...cloned.notes,
    ...beside.notes,
    network === undefined
      ? 'every network interface left out (isolation.network: none)'
      : `${interfaces.length} network interface(s) on the drill's own bridge ${network.bridge} only (isolation.network: isolated)`,
  ];
  const document = new DOMParser({ onError: () => undefined }).parseFromString(beside.xml, 'text/xml');
  const domain = document.documentElement!;
  setChild(domain, 'description', description);
  for (const [event, action] of [
    ['on_poweroff', 'destroy'],
    ['on_reboot', 'destroy'],
    ['on_crash', 'destroy'],
  ] as const)
    setChild(domain, event, action);
  let devices = firstChild(domain, 'devices');
  if (devices === undefined) {
    devices = document.createElement('devices');
    domain.appendChild(devices);
  }
  for (const name of ['serial', 'console', 'parallel', 'graphics'])
    for (const device of children(devices, name)) devices.removeChild(device);
  // Only the guest agent's channel stays (a socket libvirt makes for this domain).
  for (const channel of children(devices, 'channel'))
    if (firstChild(channel, 'target')?.getAttribute('name') !== 'org.qemu.guest_agent.0') devices.removeChild(channel);
  devices.appendChild(
    element(devices, 'serial', { type: 'file' }, [
      element(devices, 'source', { path: consoleFile }),
      element(devices, 'target', { port: '0' }),
    ]),
  );
  if (network !== undefined) appendTapInterfaces(devices, interfaces, network.taps);
  if (children(devices, 'video').length === 0)
    devices.appendChild(element(devices, 'video', {}, [element(devices, 'model', { type: 'vga' })]));
  return { xml: new XMLSerializer().serializeToString(document), notes };
}

function element(
  near: Element,
  name: string,
  attributes: Readonly<Record<string, string>>,
  inside: readonly Element[] = [],
): Element {
  const made = near.ownerDocument!.createElement(name);
  for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
  for (const child of inside) made.appendChild(child);
  return made;
}

function setChild(parent: Element, name: string, text: string): void {
  let child = firstChild(parent, name);
  if (child === undefined) {
    child = parent.ownerDocument!.createElement(name);
    parent.appendChild(child);
  }
  while (child.firstChild) child.removeChild(child.firstChild);
  child.appendChild(parent.ownerDocument!.createTextNode(text));
}
