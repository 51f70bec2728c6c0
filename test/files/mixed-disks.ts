// Disks with more kinds of filesystems, made with the real tools: an MBR disk with vfat (mkfs.fat
// + mtools), NTFS (mkntfs + ntfscp) and LVM (vg0/root, ext4, set up through guestfish), a disk
// that is one btrfs filesystem with a subvolume 'home' (made in the same guestfish session: the
// btrfs-progs here cannot make subvolumes into an image), and a disk that is one XFS filesystem
// without a partition table (mkfs.xfs -p protofile).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { applianceCacheDir, firstAccel, rememberKvmFailed } from '../../src/files/accel-choice.js';
import { emulatedApplianceKernel } from '../../src/files/emulated-kernel.js';

const MiB = 1024 * 1024;
const SECTOR = 512;
const VFAT = { start: 2048, sectors: 32 * 2048 };
const NTFS = { start: VFAT.start + VFAT.sectors, sectors: 24 * 2048 };
const LVM_START = NTFS.start + NTFS.sectors;

/** Guest path (NAME:/PATH) -> sha256 of the content the test wrote there. */
export type Contents = Record<string, string>;

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function file(dir: string, name: string, content: string | Buffer): string {
  const local = path.join(dir, name);
  mkdirSync(path.dirname(local), { recursive: true });
  writeFileSync(local, content);
  return local;
}

// The MBR disk (raw): p1 vfat 'BOOTFS', p2 ntfs 'winfs', p3 an LVM PV with vg0/root ext4 'lvroot';
// and the btrfs disk (raw, whole disk, label 'homefs'): /etc/hostname at the top level ('disk'),
// /alice/notes.txt in the subvolume 'home' ('disk@home').
export async function makeMbrAndBtrfsDisks(raw: string, btrfs: string, scratch: string): Promise<Contents> {
  const contents: Contents = {};
  execFileSync('truncate', ['-s', `${128 * MiB}`, raw]);
  const layout = `label: dos\nstart=${VFAT.start}, size=${VFAT.sectors}, type=c\nstart=${NTFS.start}, size=${NTFS.sectors}, type=7\nstart=${LVM_START}, type=8e\n`;
  execFileSync('sfdisk', ['-q', raw], { input: layout });

  execFileSync('mkfs.fat', ['-F', '16', '-n', 'BOOTFS', `--offset=${VFAT.start}`, raw, String(VFAT.sectors / 2)], {
    stdio: 'ignore',
  });
  const image = `${raw}@@${VFAT.start * SECTOR}`;
  const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
  execFileSync('mmd', ['-i', image, '::/EFI'], { env });
  const boot = 'fat boot entry\n'.repeat(100);
  execFileSync('mcopy', ['-i', image, file(scratch, 'boot.txt', boot), '::/EFI/boot.txt'], { env });
  contents['p1:/EFI/boot.txt'] = sha(boot);

  const ntfs = path.join(scratch, 'ntfs.img');
  execFileSync('truncate', ['-s', `${NTFS.sectors * SECTOR}`, ntfs]);
  execFileSync('mkntfs', ['-F', '-Q', '-L', 'winfs', '-p', String(NTFS.start), ntfs], { stdio: 'ignore' });
  const report = Buffer.from(`Rapport annuel — ${'données '.repeat(2000)}\n`);
  execFileSync('ntfscp', [ntfs, file(scratch, 'report.txt', report), 'Rapport été.txt'], { stdio: 'ignore' });
  contents['p2:/Rapport été.txt'] = sha(report);
  execFileSync('dd', [
    `if=${ntfs}`,
    `of=${raw}`,
    `bs=${SECTOR}`,
    `seek=${NTFS.start}`,
    'conv=notrunc,sparse',
    'status=none',
  ]);

  // The LV's ext4 is made here and written into the LV by the appliance that made the LVM.
  const root = path.join(scratch, 'lvroot');
  const fstab = '/dev/vg0/root / ext4 defaults 0 1\n';
  file(root, 'etc/fstab', fstab);
  contents['vg0/root:/etc/fstab'] = sha(fstab);
  const ext4 = path.join(scratch, 'lvroot.img');
  execFileSync('mkfs.ext4', ['-q', '-L', 'lvroot', '-d', root, ext4, '24M']);
  execFileSync('truncate', ['-s', `${160 * MiB}`, btrfs]);
  const hostname = 'btrfs-guest\n';
  const notes = `alice's notes ${'on btrfs '.repeat(5000)}\n`;
  contents['disk:/etc/hostname'] = sha(hostname);
  contents['disk@home:/alice/notes.txt'] = sha(notes);
  const btrfsSteps = [
    'mkfs',
    'btrfs',
    '/dev/sdb',
    'label:homefs',
    ':',
    'mount',
    '/dev/sdb',
    '/',
    ':',
    'mkdir',
    '/etc',
    ':',
    'upload',
    file(scratch, 'hostname', hostname),
    '/etc/hostname',
    ':',
    'btrfs-subvolume-create',
    '/home',
    ':',
    'mkdir',
    '/home/alice',
    ':',
    'upload',
    file(scratch, 'notes.txt', notes),
    '/home/alice/notes.txt',
    ':',
    'umount',
    '/',
  ];
  await guestfish([
    '--',
    'add',
    raw,
    'format:raw',
    ':',
    'add',
    btrfs,
    'format:raw',
    ':',
    'run',
    ':',
    'pvcreate',
    '/dev/sda3',
    ':',
    'vgcreate',
    'vg0',
    '/dev/sda3',
    ':',
    'lvcreate',
    'root',
    'vg0',
    '24',
    ':',
    'upload',
    ext4,
    '/dev/vg0/root',
    ':',
    ...btrfsSteps,
  ]);
  return contents;
}

// guestfish with the accelerator the product's appliance would use (src/files/accel-choice.ts):
// KVM first on a host that has /dev/kvm and no remembered failure, then software emulation with
// the unpacked kernel the product boots (and its cache). On a fresh host where KVM aborts (MSR
// 0x10a here), the failure is remembered as the product remembers it, and the disks are made
// under TCG: this file may be the first on the host to start an appliance.
const KVM_LIMIT_MS = 120_000;
async function guestfish(args: readonly string[]): Promise<void> {
  const cacheDir = applianceCacheDir();
  if (firstAccel(cacheDir) === 'kvm') {
    try {
      // Bounded as the product bounds its KVM start (src/files/appliance.ts): on some nested hosts
      // the kernel hangs under KVM. A stopped guestfish's recovery process stops its qemu.
      execFileSync('guestfish', args, { stdio: 'ignore', timeout: KVM_LIMIT_MS });
      return;
    } catch {
      rememberKvmFailed(cacheDir, 'guestfish did not start with KVM (test/files/mixed-disks.ts)');
    }
  }
  const emulated = await emulatedApplianceKernel(cacheDir);
  execFileSync('guestfish', args, {
    env: {
      ...process.env,
      LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg',
      ...(emulated ? { LIBGUESTFS_CACHEDIR: emulated.cacheDir, ...emulated.env } : {}),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

// A disk that is one XFS filesystem (no partition table): short name 'disk'.
export function makeWholeDiskXfs(raw: string, scratch: string): Contents {
  const data = Buffer.alloc(1 * MiB, 7);
  const notes = 'whole-disk xfs\n';
  const proto = [
    '/dev/null',
    '0 0',
    'd--755 0 0',
    'data d--750 1000 1000',
    ` blob.bin ---640 1000 1000 ${file(scratch, 'blob.bin', data)}`,
    ` notes.txt ---644 0 0 ${file(scratch, 'notes.txt', notes)}`,
    ' $',
    '$',
    '',
  ].join('\n');
  execFileSync('truncate', ['-s', `${320 * MiB}`, raw]);
  execFileSync('mkfs.xfs', ['-q', '-L', 'xfsdata', '-p', file(scratch, 'xfs.proto', proto), raw]);
  return { 'disk:/data/blob.bin': sha(data), 'disk:/data/notes.txt': sha(notes) };
}
