// The partitions and filesystems of the appliance's one disk, each with a short name: p1, p2
// (partitions), vg0/root (LVM), disk (a filesystem without a partition table), p2@home (btrfs).

import type { GuestfsAgent } from './guestfs-agent.js';

export interface Filesystem {
  /** Short name used in NAME:/PATH. */
  readonly name: string;
  /** libguestfs mountable: /dev/sda1, /dev/vg0/root, btrfsvol:/dev/sda2/home. */
  readonly device: string;
  /** ext4, xfs, vfat, ntfs, btrfs, swap, unknown... */
  readonly type: string;
  readonly label: string;
  readonly uuid: string;
  readonly size: number;
  /** The operating system whose root this is, when libguestfs recognises one. */
  readonly os?: string;
}

export interface DiskLayout {
  /** gpt, msdos, or none (a filesystem on the whole disk, or nothing). */
  readonly partitionTable: string;
  readonly filesystems: readonly Filesystem[];
}

// libguestfs names a btrfs subvolume after the device btrfs last saw the filesystem on: a disk
// made as /dev/sdb elsewhere lists as btrfsvol:/dev/sdb/home here, where the appliance's only
// disk is /dev/sda (and mounting that name fails). The appliance has one disk: its subvolumes
// are on it.
export function onTheApplianceDisk(device: string): string {
  return device.replace(/^btrfsvol:\/dev\/([sv])d[a-z]+(\d*)\//, 'btrfsvol:/dev/$1da$2/');
}

export function shortName(device: string): string {
  const subvolume = /^btrfsvol:(\/dev\/[^/]+)\/(.*)$/.exec(device);
  if (subvolume) return `${shortName(subvolume[1])}@${subvolume[2]}`;
  if (/^\/dev\/[sv]da$/.test(device)) return 'disk';
  const partition = /^\/dev\/[sv]da(\d+)$/.exec(device);
  if (partition) return `p${partition[1]}`;
  const lv = /^\/dev\/([^/]+)\/([^/]+)$/.exec(device);
  if (lv && lv[1] !== 'mapper') return `${lv[1]}/${lv[2]}`;
  return device.replace(/^\/dev\//, '');
}

// With inspect, the OS each root filesystem holds (it mounts every filesystem once: only for listings).
export async function readDiskLayout(
  agent: GuestfsAgent,
  options: { readonly inspect?: boolean } = {},
): Promise<DiskLayout> {
  const partitionTable = await agent.scalar<string>('part_get_parttype', ['/dev/sda']).catch(() => 'none');
  const found = await agent.hash('list_filesystems');
  const roots = options.inspect ? await osRoots(agent) : new Map<string, string>();
  const filesystems: Filesystem[] = [];
  for (const [listed, type] of Object.entries(found)) {
    const device = onTheApplianceDisk(listed);
    const base = device.replace(/^btrfsvol:(\/dev\/[^/]+)\/.*$/, '$1');
    const known = type !== 'unknown';
    filesystems.push({
      name: shortName(device),
      device,
      type,
      label: known ? await agent.scalar<string>('vfs_label', [device]).catch(() => '') : '',
      uuid: known ? await agent.scalar<string>('vfs_uuid', [device]).catch(() => '') : '',
      size: Number(await agent.scalar<number>('blockdev_getsize64', [base]).catch(() => 0)),
      ...(roots.has(device) ? { os: roots.get(device) } : {}),
    });
  }
  filesystems.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  return { partitionTable, filesystems };
}

// Filesystems that hold an operating system's root, with its product name ("Debian 12", ...).
async function osRoots(agent: GuestfsAgent): Promise<Map<string, string>> {
  const roots = new Map<string, string>();
  const found = (await agent.call('inspect_os').catch(() => [])) as string[];
  for (const root of found) {
    const product = await agent.scalar<string>('inspect_get_product_name', [root]).catch(() => 'unknown');
    roots.set(
      onTheApplianceDisk(root),
      product === 'unknown' ? await agent.scalar<string>('inspect_get_distro', [root]).catch(() => 'unknown') : product,
    );
  }
  return roots;
}

export function readable(fs: Filesystem): boolean {
  return fs.type !== 'unknown' && fs.type !== 'swap';
}
