// KVM or software emulation (TCG) for the libguestfs appliance. KVM is tried first; when its
// launch fails (here qemu aborts: "failed to set MSR 0x10a") the appliance is started with TCG,
// and that outcome is remembered in the cache dir so later commands do not pay the failed start
// again. The memory is keyed by the host kernel and the qemu binary, so an upgrade tries KVM anew.

import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir, release } from 'node:os';
import { join } from 'node:path';

export type Accel = 'kvm' | 'tcg';

const QEMU = '/usr/bin/qemu-system-x86_64';

// ${XDG_CACHE_HOME:-~/.cache}/sendense/libguestfs: the supermin appliance and the accel choice.
export function applianceCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(env.HOME ?? homedir(), '.cache');
  const dir = join(base, 'sendense', 'libguestfs');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

function hostKey(): string {
  let qemu = 'none';
  try {
    qemu = String(statSync(QEMU).mtimeMs);
  } catch {
    // no qemu-system: libguestfs will say so at launch
  }
  return `${release()} ${qemu}`;
}

// What to try first: TCG when there is no /dev/kvm or KVM failed before on this host.
export function firstAccel(cacheDir: string): Accel {
  try {
    statSync('/dev/kvm');
  } catch {
    return 'tcg';
  }
  try {
    const saved = JSON.parse(readFileSync(join(cacheDir, 'accel.json'), 'utf8')) as { key?: string; accel?: Accel };
    if (saved.key === hostKey() && saved.accel === 'tcg') return 'tcg';
  } catch {
    // nothing remembered yet
  }
  return 'kvm';
}

export function rememberKvmFailed(cacheDir: string, reason: string): void {
  try {
    writeFileSync(join(cacheDir, 'accel.json'), `${JSON.stringify({ key: hostKey(), accel: 'tcg', reason })}\n`, {
      mode: 0o600,
    });
  } catch {
    // only an optimisation: the next command tries KVM again
  }
}
