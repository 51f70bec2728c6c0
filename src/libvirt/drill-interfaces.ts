// The network interfaces of a drill's domain with isolation.network: isolated
// (docs/drills.md#the-isolated-network): each interface of the stored definition, on a tap the
// drill made on its own bridge (libvirt opens it, managed='no': it neither makes nor addresses it)
// instead of its network. Its MAC address, model and PCI address are kept, so the guest
// sees the card it was configured for (names and configurations bound to them still apply); the
// bridge reaches nothing of the original's, so its MAC meets no one. Nothing else is kept: no
// target device, filter, bandwidth, port group or virtual port of the original's network.

import { DOMParser, type Element } from '@xmldom/xmldom';
import { children, firstChild } from './domain-xml.js';

export interface DrillInterface {
  readonly mac?: string;
  readonly model?: string;
  /** The guest-side address element's attributes (type, bus, slot…). */
  readonly address?: Readonly<Record<string, string>>;
}

export function storedInterfaces(stored: string): DrillInterface[] {
  const document = new DOMParser({ onError: () => undefined }).parseFromString(stored, 'text/xml');
  const devices = document.documentElement === null ? undefined : firstChild(document.documentElement, 'devices');
  return (devices === undefined ? [] : children(devices, 'interface')).map((iface) => {
    const address = firstChild(iface, 'address');
    return {
      mac: firstChild(iface, 'mac')?.getAttribute('address') || undefined,
      model: firstChild(iface, 'model')?.getAttribute('type') || undefined,
      address:
        address === undefined
          ? undefined
          : Object.fromEntries(Array.from(address.attributes).map((attribute) => [attribute.name, attribute.value])),
    };
  });
}

/** An interface element on each tap (one a stored interface, in order), appended to devices. */
export function appendTapInterfaces(
  devices: Element,
  interfaces: readonly DrillInterface[],
  taps: readonly string[],
): void {
  const document = devices.ownerDocument!;
  const make = (name: string, attributes: Readonly<Record<string, string>>): Element => {
    const made = document.createElement(name);
    for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
    return made;
  };
  interfaces.forEach((stored, index) => {
    const iface = make('interface', { type: 'ethernet' });
    if (stored.mac !== undefined) iface.appendChild(make('mac', { address: stored.mac }));
    iface.appendChild(make('target', { dev: taps[index]!, managed: 'no' }));
    if (stored.model !== undefined) iface.appendChild(make('model', { type: stored.model }));
    if (stored.address !== undefined) iface.appendChild(make('address', stored.address));
    devices.appendChild(iface);
  });
}
