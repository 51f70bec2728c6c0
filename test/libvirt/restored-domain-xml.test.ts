// The XML of a domain restored as new (docs/how-it-works.md#a-restore-as-a-new-libvirt-domain): the
// stored definition under the new name, without its UUID, each disk on its restored file; with
// network none no interface at all, with keep each on the original's network without its MAC
// (libvirt makes a new one) or tap name; never the original's host devices, shares or files.

import { describe, expect, it } from 'vitest';
import { restoredDomainXml } from '../../src/libvirt/restored-domain-xml.js';

const STORED = `<domain type='kvm'>
  <name>web01</name>
  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/web01.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/images/web01-data.raw'/><target dev='vdb' bus='virtio'/></disk>
    <interface type='network'><mac address='52:54:00:11:22:33'/><source network='prod'/><target dev='vnet3'/><model type='virtio'/></interface>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></source></hostdev>
    <filesystem type='mount'><source dir='/srv/share'/><target dir='share'/></filesystem>
    <serial type='file'><source path='/var/log/web01-console.log'/><target port='0'/></serial>
  </devices>
</domain>`;

const DISKS = [
  { key: 2000, source: '/images/web01.qcow2', image: '/restore/web01-copy-2000.qcow2' },
  { key: 2001, source: '/images/web01-data.raw', image: '/restore/web01-copy-2001.qcow2' },
];

function interfaces(xml: string): string[] {
  return xml.match(/<interface[\s\S]*?<\/interface>/g) ?? [];
}

describe('the XML of a domain restored as new', () => {
  it('is the stored domain renamed, without UUID, on the restored files, none of the host resources', () => {
    const made = restoredDomainXml(STORED, 'web01-copy', DISKS, 'none');
    expect(made.xml).toContain('<name>web01-copy</name>');
    expect(made.xml).not.toContain('<uuid>');
    expect(made.xml).toContain('<source file="/restore/web01-copy-2000.qcow2"/>');
    expect(made.xml).toContain('<source file="/restore/web01-copy-2001.qcow2"/>');
    for (const original of ['/images/web01', '<hostdev', '/srv/share', '/var/log/web01-console.log'])
      expect(made.xml).not.toContain(original);
    expect(made.xml).toContain('/var/log/web01-copy-web01-console.log');
    expect([...made.targets]).toEqual([
      [2000, 'vda'],
      [2001, 'vdb'],
    ]);
  });

  it('has no interface with network: none', () => {
    const made = restoredDomainXml(STORED, 'web01-copy', DISKS, 'none');
    expect(interfaces(made.xml)).toEqual([]);
    expect(made.notes).toContain('every network interface left out (restore.target.network: none)');
  });

  it("keeps each interface on the original's network with keep, without its MAC or tap name", () => {
    const made = restoredDomainXml(STORED, 'web01-copy', DISKS, 'keep');
    expect(interfaces(made.xml)).toEqual([
      '<interface type="network"><source network="prod"/><model type="virtio"/></interface>',
    ]);
  });
});
