// The recovered domain's XML (docs/instant-recovery.md): renamed, no UUID or MAC addresses, each
// recovered disk on its image found by the source it was backed up from, any other writable disk
// left out (two domains must never write one image), read-only drives kept.

import { describe, expect, it } from 'vitest';
import { parseDomainXml } from '../../src/libvirt/domain-xml.js';
import {
  cloneDomainXml,
  minimalDomainXml,
  replaceDiskImages,
  withoutHostResources,
} from '../../src/libvirt/recovered-domain-xml.js';

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
    expect(cloned.notes).toEqual([
      'disk vdc (/images/web01-scratch.qcow2) was not recovered: left out of the new domain',
    ]);
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
    const minimal = minimalDomainXml(
      'm',
      { use: 'stored', memory: 2 * 1024 ** 3, vcpus: 2, bus: 'sata', virtualization: 'qemu', firmware: 'bios' },
      [
        { key: 2001, source: '', image: '/r/b.qcow2' },
        { key: 2000, source: '', image: '/r/a.qcow2' },
      ],
    );
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

// Everything of the host a production VM may hold: a domain beside it must reach none of it.
const PRODUCTION = `<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>web01-test</name>
  <os><type arch='x86_64' machine='q35'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader><nvram template='/usr/share/OVMF/OVMF_VARS.fd'>/var/lib/libvirt/qemu/nvram/web01_VARS.fd</nvram></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/tmp/r/disk-2000.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><source file='/iso/tools.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>
    <disk type='block' device='lun'><source dev='/dev/sdz'/><target dev='sda' bus='scsi'/></disk>
    <disk type='file' device='floppy'><source file='/prod/floppy.img'/><target dev='fda'/></disk>
    <filesystem type='mount' accessmode='passthrough'><source dir='/prod/share'/><target dir='share'/></filesystem>
    <hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x06' slot='0x02' function='0x0'/></source></hostdev>
    <redirdev bus='usb' type='tcp'><source mode='connect' host='127.0.0.1' service='4000'/></redirdev>
    <input type='passthrough' bus='virtio'><source evdev='/dev/input/event7'/></input>
    <shmem name='prod-shm'><model type='ivshmem-doorbell'/><server path='/prod/ivshmem.sock'/></shmem>
    <tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>
    <rng model='virtio'><backend model='egd' type='tcp'><source mode='connect' host='127.0.0.1' service='1708'/></backend></rng>
    <serial type='file'><source path='/prod/console.log' append='on'/><target port='0'/></serial>
    <serial type='tcp'><source mode='bind' host='0.0.0.0' service='4555'/><protocol type='telnet'/><target port='1'/></serial>
    <serial type='pty'><log file='/prod/serial2.log' append='on'/><target port='2'/></serial>
    <console type='file'><source path='/prod/console.log'/><target type='serial' port='0'/></console>
    <parallel type='dev'><source path='/dev/parport0'/><target port='0'/></parallel>
    <channel type='unix'><source mode='bind' path='/prod/channel/org.qemu.guest_agent.0'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <channel type='pipe'><source path='/prod/pipe'/><target type='virtio' name='com.example.pipe'/></channel>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
    <graphics type='vnc' port='5901' autoport='no' listen='127.0.0.1' websocket='5701'><listen type='address' address='127.0.0.1'/></graphics>
    <graphics type='spice'><listen type='socket' socket='/prod/spice.sock'/></graphics>
    <vsock model='virtio'><cid auto='no' address='42'/></vsock>
  </devices>
  <qemu:commandline><qemu:arg value='-chardev'/><qemu:arg value='file,id=x,path=/prod/extra.log'/></qemu:commandline>
</domain>`;

describe('a domain beside the original (a failover test, a recovery)', () => {
  const beside = withoutHostResources(PRODUCTION);

  it("reaches none of the original's host paths, devices or fixed ports", () => {
    const files = [
      '/prod/console.log',
      '/prod/serial2.log',
      '/prod/share',
      '/prod/floppy.img',
      '/prod/ivshmem.sock',
      '/prod/channel/',
      '/prod/pipe',
      '/prod/spice.sock',
      '/prod/extra.log',
    ];
    for (const held of [
      ...files,
      '/dev/sdz',
      '/dev/input/',
      '/dev/tpm0',
      '/dev/parport0',
      'web01_VARS.fd',
      "'5901'",
      '"5901"',
      '5701',
      '4555',
      '1708',
      '4000',
      '0x06',
      '0xbeef',
      "'42'",
      '"42"',
    ]) {
      expect(beside.xml, held).not.toContain(held);
    }
    for (const gone of [
      '<filesystem',
      '<hostdev',
      '<redirdev',
      '<shmem',
      '<tpm',
      '<rng',
      "device='lun'",
      'device="lun"',
      'qemu:commandline',
    ])
      expect(beside.xml, gone).not.toContain(gone);
  });

  it('keeps what is its own: its disk, the read-only cdrom, console files and logs of its own, its agent channel, displays on ports libvirt chooses', () => {
    const parsed = parseDomainXml(beside.xml);
    expect(parsed.disks.map((disk) => [disk.target, disk.path])).toEqual([
      ['vda', '/var/tmp/r/disk-2000.qcow2'],
      ['hdc', '/iso/tools.iso'],
    ]);
    expect(beside.xml).toContain(
      '<serial type="file"><source path="/prod/web01-test-console.log" append="on"/><target port="0"/></serial>',
    );
    expect(beside.xml).toContain('<serial type="pty"><target port="1"/></serial>');
    expect(beside.xml).toContain(
      '<serial type="pty"><log file="/prod/web01-test-serial2.log" append="on"/><target port="2"/></serial>',
    );
    expect(beside.xml).toContain(
      '<console type="file"><source path="/prod/web01-test-console.log"/><target type="serial" port="0"/></console>',
    );
    expect(beside.xml).toContain(
      '<channel type="unix"><target type="virtio" name="org.qemu.guest_agent.0"/></channel>',
    );
    expect(beside.xml).toContain('com.redhat.spice.0');
    expect(beside.xml).not.toContain('com.example.pipe');
    expect(beside.xml.match(/autoport="yes"/g)).toHaveLength(2);
    expect(beside.xml).toContain('<nvram template="/usr/share/OVMF/OVMF_VARS.fd"/>');
    expect(beside.xml).toContain('<cid auto="yes"/>');
  });

  it('says what it left out or changed, one line each', () => {
    expect(beside.notes).toEqual([
      "lun sda (/dev/sdz) left out: it is the original's",
      "floppy fda (/prod/floppy.img) left out: it is the original's",
      "host share /prod/share (guest tag share) left out: it is the original's",
      "host device (usb) left out: it is the original's",
      "host device domain=0x0000 bus=0x06 slot=0x02 function=0x0 left out: it is the original's",
      "redirected host device (tcp) left out: it is the original's",
      "host input device /dev/input/event7 left out: it is the original's",
      "shared memory device (no source) left out: it is the original's",
      "the host's TPM (passthrough) left out: it is the original's",
      "random number source from the host's EGD daemon left out: it is the original's",
      "serial 0: writes to /prod/web01-test-console.log, not the original's /prod/console.log",
      "serial 1: a pty, not the original's tcp 0.0.0.0:4555",
      "serial 2: logs to /prod/web01-test-serial2.log, not the original's /prod/serial2.log",
      "console 0: writes to /prod/web01-test-console.log, not the original's /prod/console.log",
      "parallel 0: a pty, not the original's dev /dev/parport0",
      "channel org.qemu.guest_agent.0: a socket of its own, not the original's unix /prod/channel/org.qemu.guest_agent.0",
      "channel com.example.pipe (pipe /prod/pipe) left out: it is the original's",
      "vnc display: a port libvirt chooses, not the original's fixed port or socket",
      "spice display: a port libvirt chooses, not the original's fixed port or socket",
      "vsock: a new CID, not the original's fixed one",
      "UEFI variables: a new NVRAM file, not the original's /var/lib/libvirt/qemu/nvram/web01_VARS.fd",
      "qemu:commandline left out: its arguments may name the original's files or ports",
    ]);
  });
});
