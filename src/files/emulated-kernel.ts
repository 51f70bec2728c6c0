// The kernel the libguestfs appliance boots under software emulation (TCG): the host kernel's own
// ELF vmlinux, unpacked once from its bzImage into the appliance cache, which QEMU starts at its
// PVH entry. Emulated, unpacking the bzImage at every start was about 40% of an appliance's CPU
// (22.5 s against 13.3 s a start on a 2-core test machine; docs/file-level-restore.md). Under KVM
// it costs a fraction of a second, so KVM keeps the kernel supermin picks itself.

import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  readSync,
} from 'node:fs';
import { join } from 'node:path';
import { childEnv } from '../process/child-env.js';

/** Where supermin builds the appliance, and the variables that make it use the unpacked kernel. */
export interface ApplianceKernel {
  readonly cacheDir: string;
  readonly env: Readonly<Record<string, string>>;
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
// The payload formats of a bzImage (CONFIG_KERNEL_*) this host can unpack, by their magic.
const PAYLOADS: readonly (readonly [Buffer, string])[] = [
  [Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), 'xz'],
  [Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), 'zstd'],
  [Buffer.from([0x1f, 0x8b, 0x08]), 'gzip'],
];

// The kernel supermin would pick: the newest /boot/vmlinuz-* whose modules are installed.
function hostKernelVersion(): string | undefined {
  let names: string[];
  try {
    names = readdirSync('/boot');
  } catch {
    return undefined;
  }
  return names
    .filter((name) => name.startsWith('vmlinuz-'))
    .map((name) => name.slice('vmlinuz-'.length))
    .filter((version) => existsSync(`/lib/modules/${version}`))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .at(-1);
}

function hasPvhEntry(version: string): boolean {
  try {
    return /^CONFIG_PVH=y$/m.test(readFileSync(`/boot/config-${version}`, 'utf8'));
  } catch {
    return false;
  }
}

function startsWithElf(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.equals(ELF_MAGIC);
  } finally {
    closeSync(fd);
  }
}

// Unpacks /boot/vmlinuz-VERSION's payload into `out` with the tool of its format, an ELF QEMU can
// start at its PVH entry; false (and `out` removed) when the kernel has no PVH entry or no tool gives
// an ELF. Also the test guest's kernel (test/support/libvirt-guest.ts).
export async function unpackKernel(version: string, out: string): Promise<boolean> {
  if (!hasPvhEntry(version)) return false;
  const bzImage = readFileSync(`/boot/vmlinuz-${version}`);
  for (const [magic, tool] of PAYLOADS) {
    const at = bzImage.indexOf(magic);
    if (at < 0) continue;
    const fd = openSync(out, 'w', 0o644);
    try {
      // The payload is followed by the bzImage's trailer, which the tool reports as garbage: only
      // what it unpacked is judged.
      await new Promise<void>((resolve) => {
        const child = spawn(tool, ['-dc'], { stdio: ['pipe', fd, 'ignore'], env: childEnv() });
        child.on('error', () => resolve());
        child.on('close', () => resolve());
        child.stdin?.on('error', () => {});
        child.stdin?.end(bzImage.subarray(at));
      });
    } finally {
      closeSync(fd);
    }
    if (startsWithElf(out)) return true;
  }
  rmSync(out, { force: true });
  return false;
}

// The appliance cache for TCG starts (a folder of `cacheDir` per kernel version, its appliance
// built by supermin from the unpacked kernel), or undefined when this host's kernel has no PVH
// entry or cannot be unpacked: then the appliance boots the bzImage as before.
export async function emulatedApplianceKernel(cacheDir: string): Promise<ApplianceKernel | undefined> {
  const version = hostKernelVersion();
  if (version === undefined) return undefined;
  const dir = join(cacheDir, `pvh-${version}`);
  const vmlinux = join(dir, 'vmlinux');
  if (!existsSync(vmlinux)) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // Unpacked beside and renamed into place: a command running at the same time sees the whole
      // file or none.
      const partial = join(dir, `vmlinux.${process.pid}.partial`);
      if (!(await unpackKernel(version, partial))) return undefined;
      renameSync(partial, vmlinux);
    } catch {
      return undefined;
    }
    // The folders of kernels no longer installed (each an appliance of a few hundred MiB) go.
    for (const name of readdirSync(cacheDir)) {
      if (name.startsWith('pvh-') && !existsSync(`/boot/vmlinuz-${name.slice('pvh-'.length)}`))
        rmSync(join(cacheDir, name), { recursive: true, force: true });
    }
  }
  return {
    cacheDir: dir,
    env: { SUPERMIN_KERNEL: vmlinux, SUPERMIN_KERNEL_VERSION: version, SUPERMIN_MODULES: `/lib/modules/${version}` },
  };
}
