// The recovered domain's XML (docs/instant-recovery.md): renamed, no UUID or MAC addresses, each
// recovered disk on its image found by the source it was backed up from, any other writable disk
// left out (two domains must never write one image), read-only drives kept.

import { describe, expect, it } from 'vitest';
import { parseDomainXml } from '../../src/libvirt/domain-xml.js';
import { cloneDomainXml, minimalDomainXml, replaceDiskImages } from '../../src/libvirt/recovered-domain-xml.js';

const STORED = `<domain type='kvm'>
  <name>web01</name><uuid>a2bfb240-5cce-4486-a31d-fdbf042d77a0</uuid>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/web01-data.qcow2'/><backingStore/><target dev='vdb' bus='virtio'/></disk>
    <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/vg/web01-root'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/web01-scratch.qcow2'/><target dev='vdc' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><source file='/iso/tools.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>
    <interface type='network'><mac address='52:54:00:11:22:33'/><source network='default'/><target dev='vnet3'/></interface>
  </devices>
</domain>`;

describe('the recovered domain XML', () => {
  const cloned = cloneDomainXml(STORED, 'web01-recovered', [
    { key: 2000, source: '/dev/vg/web01-root', image: '/var/tmp/r/disk-2000.qcow2' },
    { key: 2001, source: '/images/web01-data.qcow2', image: '/var/tmp/r/disk-2001.qcow2' },
  ]);
  const parsed = parseDomainXml(cloned.xml);

  it('has the new name, no UUID and no MAC address or tap name', () => {
    expect(parsed.name).toBe('web01-recovered');
    expect(parsed.uuid).toBe('');
    expect(cloned.xml).not.toContain('52:54:00:11:22:33');
    expect(cloned.xml).not.toContain('vnet3');
    expect(cloned.xml).toContain('<source network="default"/>');
  });

  it('puts each disk on its image as qcow2 by the source it was backed up from, whatever the order', () => {
    expect(cloned.targets).toEqual(
      new Map([
        [2000, 'vda'],
        [2001, 'vdb'],
      ]),
    );
    const byTarget = new Map(parsed.disks.map((disk) => [disk.target, disk]));
    expect(byTarget.get('vda')).toMatchObject({ type: 'file', path: '/var/tmp/r/disk-2000.qcow2', format: 'qcow2' });
    expect(byTarget.get('vdb')).toMatchObject({ type: 'file', path: '/var/tmp/r/disk-2001.qcow2', format: 'qcow2' });
  });

  it('leaves out a writable disk that is not recovered and says so; keeps the read-only cdrom', () => {
    expect(parsed.disks.map((disk) => disk.target).sort()).toEqual(['hdc', 'vda', 'vdb']);
    expect(cloned.notes).toEqual(['disk vdc (/images/web01-scratch.qcow2) was not recovered: left out of the new domain']);
  });

  it('takes the remaining writable disks in target order for a source no disk has any more', () => {
    const moved = cloneDomainXml(STORED, 'r', [{ key: 2000, source: '/old/path.qcow2', image: '/r/2000.qcow2' }]);
    expect(moved.targets).toEqual(new Map([[2000, 'vda']]));
  });

  it('refuses a point with more disks than the definition', () => {
    const disks = [1, 2, 3, 4].map((key) => ({ key, source: `/x/${key}`, image: `/r/${key}` }));
    expect(() => cloneDomainXml(STORED, 'r', disks)).toThrow(/no disk for key\(s\) 4/);
  });

  it('moves disks to other images by target (the storage files after a move)', () => {
    const moved = parseDomainXml(replaceDiskImages(cloned.xml, new Map([['vda', '/images/final-2000.qcow2']])));
    expect(moved.disks.find((disk) => disk.target === 'vda')?.path).toBe('/images/final-2000.qcow2');
    expect(moved.disks.find((disk) => disk.target === 'vdb')?.path).toBe('/var/tmp/r/disk-2001.qcow2');
  });

  it('makes a minimal domain in key order on the plan’s bus', () => {
    const minimal = minimalDomainXml('m', { use: 'stored', memory: 2 * 1024 ** 3, vcpus: 2, bus: 'sata', virtualization: 'qemu', firmware: 'bios' }, [
      { key: 2001, source: '', image: '/r/b.qcow2' },
      { key: 2000, source: '', image: '/r/a.qcow2' },
    ]);
    expect(minimal.targets).toEqual(
      new Map([
        [2000, 'sda'],
        [2001, 'sdb'],
      ]),
    );
    expect(parseDomainXml(minimal.xml).disks.map((disk) => disk.path)).toEqual(['/r/a.qcow2', '/r/b.qcow2']);
    expect(minimal.xml).toContain("<memory unit='KiB'>2097152</memory>");
  });
});
