// The drill's domain XML (docs/drills.md#the-isolated-network): with isolation.network: none no
// interface at all; isolated, each stored interface on a tap the drill made (managed='no': libvirt
// neither makes nor addresses it), keeping the MAC address, model and PCI address the guest was
// configured for, and nothing of the original's network (source, tap name, filter, bandwidth).

import { describe, expect, it } from 'vitest';
import { drillDomainXml } from '../../src/libvirt/drill-domain-xml.js';

const STORED = `<domain type='kvm'>
  <name>web01</name>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/web01.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <interface type='network'><mac address='52:54:00:11:22:33'/><source network='prod'/><target dev='vnet3'/><model type='virtio'/><filterref filter='clean-traffic'/><bandwidth><inbound average='1000'/></bandwidth><address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></interface>
    <interface type='bridge'><mac address='52:54:00:44:55:66'/><source bridge='br-backup'/><model type='e1000'/></interface>
  </devices>
</domain>`;

const DISKS = [{ key: 2000, source: '/images/web01.qcow2', image: '/var/tmp/d/disk-2000.qcow2' }];

function interfaces(xml: string): string[] {
  return xml.match(/<interface[\s\S]*?<\/interface>/g) ?? [];
}

describe("the drill's domain XML", () => {
  it('has no interface with isolation.network: none', () => {
    const made = drillDomainXml(STORED, 'web01-drill-r', DISKS, '/var/tmp/d/console.log', 'a drill');
    expect(interfaces(made.xml)).toEqual([]);
    expect(made.notes).toContain('every network interface left out (isolation.network: none)');
  });

  it("puts each stored interface on the drill's own tap, its MAC, model and PCI address kept, nothing of the network", () => {
    const made = drillDomainXml(STORED, 'web01-drill-r', DISKS, '/var/tmp/d/console.log', 'a drill', {
      bridge: 'sdbr-abc',
      taps: ['sdtpabc0', 'sdtpabc1'],
    });
    expect(interfaces(made.xml)).toEqual([
      '<interface type="ethernet"><mac address="52:54:00:11:22:33"/><target dev="sdtpabc0" managed="no"/><model type="virtio"/><address type="pci" domain="0x0000" bus="0x01" slot="0x00" function="0x0"/></interface>',
      '<interface type="ethernet"><mac address="52:54:00:44:55:66"/><target dev="sdtpabc1" managed="no"/><model type="e1000"/></interface>',
    ]);
    for (const gone of ['prod', 'vnet3', 'clean-traffic', 'bandwidth', 'br-backup'])
      expect(made.xml).not.toContain(gone);
    expect(made.notes).toContain(
      "2 network interface(s) on the drill's own bridge sdbr-abc only (isolation.network: isolated)",
    );
  });
});
