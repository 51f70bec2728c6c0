// The kernel a libguestfs appliance boots under software emulation (src/files/emulated-kernel.ts):
// the host's /boot kernel unpacked once into the appliance cache, reused by later commands, and the
// folder of a kernel no longer installed removed. The appliance really booting it is what every
// test/files test does on this (TCG) host.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { emulatedApplianceKernel } from '../../src/files/emulated-kernel.js';
import { guestKernelVersion } from '../support/libvirt-guest.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the appliance kernel under software emulation', () => {
  it('is the /boot kernel unpacked (an ELF), made once, and a removed kernel’s folder goes', async () => {
    const cache = mkdtempSync(path.join(tmpdir(), 'sendense-appliance-kernel-'));
    dirs.push(cache);
    const stale = path.join(cache, 'pvh-0.0.0-removed-amd64');
    mkdirSync(stale);
    const version = guestKernelVersion();
    const kernel = await emulatedApplianceKernel(cache);
    // Debian's kernels have a PVH entry (CONFIG_PVH=y); this host's is one.
    expect(kernel).toBeDefined();
    expect(kernel!.cacheDir).toBe(path.join(cache, `pvh-${version}`));
    expect(kernel!.env).toEqual({
      SUPERMIN_KERNEL: path.join(kernel!.cacheDir, 'vmlinux'),
      SUPERMIN_KERNEL_VERSION: version,
      SUPERMIN_MODULES: `/lib/modules/${version}`,
    });
    const vmlinux = readFileSync(kernel!.env.SUPERMIN_KERNEL!);
    expect(vmlinux.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(vmlinux.length).toBeGreaterThan(statSync(`/boot/vmlinuz-${version}`).size);
    expect(existsSync(stale)).toBe(false);
    const made = statSync(kernel!.env.SUPERMIN_KERNEL!).mtimeMs;
    const again = await emulatedApplianceKernel(cache);
    expect(statSync(again!.env.SUPERMIN_KERNEL!).mtimeMs).toBe(made);
  });
});
