// Isolated libvirt networks for the tests of recover.to.changes and replica.changes: transient
// (gone with libvirtd), no address and no forwarding, so each is a bridge and nothing else on the
// host; and what a domain's definition gives it (memory, vCPUs, interfaces).

import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import { ensureLibvirtd, virsh, virshResult } from './libvirt-guest.js';

/** A network's name and its bridge's (at most 15 characters). */
export type TestNetwork = readonly [name: string, bridge: string];

// Started anew: one a killed run of the same file left is destroyed first.
export function createIsolatedNetwork([name, bridge]: TestNetwork): void {
  ensureLibvirtd();
  removeNetwork([name, bridge]);
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-net-'));
  try {
    const file = path.join(dir, 'network.xml');
    writeFileSync(file, `<network><name>${name}</name><bridge name='${bridge}' stp='off'/></network>`);
    virsh('net-create', file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function removeNetwork([name]: TestNetwork): void {
  virshResult('net-destroy', name);
}

/** The interfaces enslaved to a bridge: the taps of the domains running on it. */
export function bridgePorts(bridge: string): string[] {
  const dir = `/sys/class/net/${bridge}/brif`;
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** What libvirt runs a domain with (or will, `inactive`): memory in KiB, vCPUs, each interface's network and MAC. */
export function domainSettings(domain: string, inactive = false) {
  const xml = new DOMParser().parseFromString(
    virsh('dumpxml', ...(inactive ? ['--inactive'] : []), domain),
    'text/xml',
  ).documentElement!;
  const text = (name: string) => xml.getElementsByTagName(name)[0]?.textContent?.trim();
  const interfaces = Array.from(xml.getElementsByTagName('interface')).map((iface) => ({
    network: iface.getElementsByTagName('source')[0]?.getAttribute('network'),
    mac: iface.getElementsByTagName('mac')[0]?.getAttribute('address'),
  }));
  return { memoryKiB: Number(text('memory')), vcpus: Number(text('vcpu')), interfaces };
}
