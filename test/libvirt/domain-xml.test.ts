// What a domain's XML tells a backup: its disks (which are backed up, under which keys), and the
// user its QEMU runs as.

import { describe, expect, it } from 'vitest';
import { parseDomainXml } from '../../src/libvirt/domain-xml.js';
import { chooseDomainDisks } from '../../src/source/libvirt-disks.js';
import { SendenseError } from '../../src/errors.js';

const XML = `<domain type='qemu' id='3'>
  <name>web01</name><uuid>4f3c2d1e-0000-4000-8000-000000000001</uuid>
  <devices>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/iso/install &amp; rescue.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/vms/web01-data.qcow2'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='block' device='disk'><driver name='qemu' type='raw'/><source dev='/dev/vg0/web01-logs'/><target dev='vdaa' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/vms/web01-system.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/vms/shared.raw'/><target dev='vdc' bus='virtio'/><shareable/></disk>
    <disk type='network' device='disk'><driver name='qemu' type='raw'/><source protocol='rbd' name='pool/img'/><target dev='sda' bus='scsi'/></disk>
  </devices>
  <seclabel type='dynamic' model='dac' relabel='yes'><label>+64055:+994</label><imagelabel>+64055:+994</imagelabel></seclabel>
</domain>`;

describe("a domain's XML", () => {
  const definition = parseDomainXml(XML);

  it('reads every disk: target, device, type, path (entities decoded), format, read-only, shareable', () => {
    expect(definition.name).toBe('web01');
    expect(definition.disks.find((disk) => disk.target === 'hdc')).toEqual({
      target: 'hdc',
      device: 'cdrom',
      type: 'file',
      path: '/iso/install & rescue.iso',
      format: 'raw',
      readOnly: true,
      shareable: false,
    });
    expect(definition.disks.find((disk) => disk.target === 'vdaa')?.path).toBe('/dev/vg0/web01-logs');
    expect(definition.disks.find((disk) => disk.target === 'sda')?.path).toBeUndefined();
  });

  it('says which user QEMU runs as (the DAC label)', () => {
    expect(definition.runsAs).toEqual({ uid: 64055, gid: 994 });
  });

  it('backs up every writable file or block disk by default, keys 2000, 2001… in target order, and lists the rest', () => {
    const choice = chooseDomainDisks(definition, [], 'web01');
    expect(choice.chosen.map(({ key, disk }) => [key, disk.target])).toEqual([
      [2000, 'vda'],
      [2001, 'vdb'],
      [2002, 'vdaa'],
    ]);
    expect(choice.skipped).toEqual([
      'hdc (a cdrom)',
      'sda (a network disk (only file and block disks))',
      'vdc (shareable (several domains write it))',
    ]);
    expect(choice.otherTargets).toEqual(['hdc', 'sda', 'vdc']);
  });

  it('takes the disks the plan names, under its keys', () => {
    const choice = chooseDomainDisks(definition, [{ key: 7, target: 'vdb' }], 'web01');
    expect(choice.chosen.map(({ key, disk }) => [key, disk.path])).toEqual([[7, '/vms/web01-data.qcow2']]);
    expect(choice.otherTargets).toContain('vda');
  });

  it('refuses a target the domain lacks, naming its targets, and one that cannot be backed up', () => {
    expect(() => chooseDomainDisks(definition, [{ key: 2000, target: 'vdz' }], 'web01')).toThrow(SendenseError);
    expect(() => chooseDomainDisks(definition, [{ key: 2000, target: 'vdz' }], 'web01')).toThrow(
      "disk target 'vdz' (key 2000) is not a disk of domain web01 (its targets: hdc, sda, vda, vdb, vdc, vdaa)",
    );
    expect(() => chooseDomainDisks(definition, [{ key: 2000, target: 'hdc' }], 'web01')).toThrow(
      /cannot be backed up: a cdrom/,
    );
  });
});
