// The plan's changes to a recovered or replica domain's definition
// (docs/instant-recovery.md#changing-the-recovered-domain): memory, vCPUs and networks edited in
// the XML as a document, whatever names the original's XML holds.

import { DOMParser, type Element } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { applyDomainChanges, unmatchedMoves } from '../../src/libvirt/domain-changes.js';
import type { DomainChanges } from '../../src/plan/types.js';

const ORIGINAL = `<domain type='kvm'>
  <name>web01</name>
  <memory unit='GiB'>4</memory><currentMemory unit='KiB'>3145728</currentMemory>
  <vcpu placement='static' current='2'>4</vcpu>
  <cputune><vcpupin vcpu='0' cpuset='1'/><vcpupin vcpu='3' cpuset='2'/></cputune>
  <numatune><memnode cellid='0' mode='strict' nodeset='0'/></numatune>
  <cpu mode='host-model'><topology sockets='1' cores='2' threads='2'/><numa><cell id='0' cpus='0-3' memory='4' unit='GiB'/></numa></cpu>
  <devices>
    <interface type='network'><source network='default' portgroup='web'/><model type='virtio'/><address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></interface>
    <interface type='bridge'><source bridge='br0'/><virtualport type='openvswitch'/><vlan><tag id='42'/></vlan><model type='e1000'/></interface>
    <interface type='network'><source network="evil'/&gt;&lt;hostdev"/><model type='virtio'/></interface>
    <interface type='user'><model type='virtio'/></interface>
  </devices>
</domain>`;

const MOVES: DomainChanges['network'] = [
  { from: { type: 'network', name: 'default' }, to: { type: 'network', name: 'isolated' } },
  { from: { type: 'bridge', name: 'br0' }, to: { type: 'bridge', name: 'br-test' } },
  { from: '*', to: 'none' },
];

function parse(xml: string): Element {
  return new DOMParser().parseFromString(xml, 'text/xml').documentElement!;
}

function all(root: Element, name: string): Element[] {
  return Array.from(root.getElementsByTagName(name));
}

describe('changes to a domain definition', () => {
  const changed = applyDomainChanges(ORIGINAL, { memory: 512 * 1024 ** 2, vcpus: 2, network: MOVES });
  const domain = parse(changed.xml);

  it('gives it the memory, all of it in use, and that many vCPUs online in a topology that adds up', () => {
    expect(all(domain, 'memory')[0]!.getAttribute('unit')).toBe('KiB');
    expect(all(domain, 'memory')[0]!.textContent).toBe('524288');
    expect(all(domain, 'currentMemory')[0]!.textContent).toBe('524288');
    const vcpu = all(domain, 'vcpu')[0]!;
    expect(vcpu.textContent).toBe('2');
    expect(vcpu.hasAttribute('current')).toBe(false);
    expect(vcpu.getAttribute('placement')).toBe('static');
    const topology = all(domain, 'topology')[0]!;
    expect(['sockets', 'cores', 'threads'].map((name) => topology.getAttribute(name))).toEqual(['2', '1', '1']);
    expect(all(domain, 'vcpupin').map((pin) => pin.getAttribute('vcpu'))).toEqual(['0']);
    expect(all(domain, 'numa')).toEqual([]);
    expect(all(domain, 'numatune')).toEqual([]);
    expect(changed.notes).toContain("memory: 512 MiB, not the original's 4096 MiB");
    expect(changed.notes).toContain("vCPUs: 2, not the original's 4");
  });

  it('moves each interface by what it was on, keeps its model and address, and leaves out the rest', () => {
    const interfaces = all(domain, 'interface');
    expect(interfaces.map((iface) => iface.getAttribute('type'))).toEqual(['network', 'bridge']);
    const [network, bridge] = interfaces as [Element, Element];
    expect(all(network, 'source').map((source) => source.getAttribute('network'))).toEqual(['isolated']);
    expect(all(network, 'source')[0]!.hasAttribute('portgroup')).toBe(false);
    expect(all(network, 'address')).toHaveLength(1);
    expect(all(bridge, 'source').map((source) => source.getAttribute('bridge'))).toEqual(['br-test']);
    expect(all(bridge, 'virtualport')).toEqual([]);
    expect(all(bridge, 'vlan')).toEqual([]);
    expect(all(bridge, 'model')[0]!.getAttribute('type')).toBe('e1000');
    // The original's hostile name was only ever a value: no element came of it.
    expect(all(domain, 'hostdev')).toEqual([]);
    expect(changed.notes).toEqual(
      expect.arrayContaining([
        'interface on network default: on network isolated',
        'interface on bridge br0: on bridge br-test',
        "interface on network evil'/><hostdev left out",
        'interface (user) left out',
      ]),
    );
  });

  it('leaves interfaces no key names where they are, and says which keys name none', () => {
    const only = applyDomainChanges(ORIGINAL, {
      network: [{ from: { type: 'bridge', name: 'br0' }, to: 'none' }],
    });
    expect(all(parse(only.xml), 'interface').map((iface) => iface.getAttribute('type'))).toEqual([
      'network',
      'network',
      'user',
    ]);
    expect(
      unmatchedMoves(ORIGINAL, [
        { from: { type: 'network', name: 'br0' }, to: 'none' },
        { from: { type: 'bridge', name: 'br0' }, to: 'none' },
        { from: '*', to: 'none' },
      ]),
    ).toEqual([{ type: 'network', name: 'br0' }]);
  });

  it('refuses more memory than the definition allows at most', () => {
    const capped = ORIGINAL.replace('<memory', "<maxMemory slots='4' unit='GiB'>8</maxMemory><memory");
    expect(() => applyDomainChanges(capped, { memory: 16 * 1024 ** 3, network: [] })).toThrow(
      /maxMemory \(8 GiB\) is below changes\.memory/,
    );
  });
});
