// The libguestfs appliance of one command: a backup file added read-only through its backing
// chain, or an encrypted one's read-only NBD export (./point-drive.ts); libguestfs puts a throw-away
// overlay on top, so even a journal replay never touches the repository. KVM when it works,
// software emulation otherwise, said once.

import { readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { SendenseError } from '../errors.js';
import { readProcStat } from '../process/process-identity.js';
import { applianceCacheDir, firstAccel, rememberKvmFailed, type Accel } from './accel-choice.js';
import { emulatedApplianceKernel } from './emulated-kernel.js';
import { GuestfsAgent } from './guestfs-agent.js';
import type { PointDrive } from './point-drive.js';

export interface ApplianceOptions {
  /** One line for the user (e.g. that software emulation is used and why). */
  readonly note?: (line: string) => void;
}

export interface OpenAppliance {
  readonly agent: GuestfsAgent;
  readonly accel: Accel;
}

// KVM that starts but never boots the appliance (seen on a nested host: the firmware runs, the
// kernel hangs) would hold the command for libguestfs's own launch timeout, 20 minutes. Under KVM
// the appliance is up seconds after its qemu starts, a loaded host's tens of seconds: past this
// bound, counted from qemu's start (not from the launch, which first builds the appliance on a
// host's first use: 10-20 s here, more under load), it is stopped and software emulation used, as
// when KVM fails at once.
const KVM_LAUNCH_LIMIT_MS = 60_000;
const QEMU_POLL_MS = 250;

// Starts the appliance on the point's drive (openPointDrive).
export async function openAppliance(
  drive: Pick<PointDrive, 'filename' | 'opts' | 'file'>,
  options: ApplianceOptions = {},
): Promise<OpenAppliance> {
  const cacheDir = applianceCacheDir();
  const started = performance.now();
  const ready = (agent: GuestfsAgent, accel: Accel): OpenAppliance => {
    options.note?.(`appliance ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return { agent, accel };
  };
  if (firstAccel(cacheDir) === 'kvm') {
    options.note?.('starting the libguestfs appliance (KVM: a few seconds)');
    const agent = GuestfsAgent.start({ LIBGUESTFS_CACHEDIR: cacheDir });
    const failed = await launchWithin(agent, drive, 'kvm', KVM_LAUNCH_LIMIT_MS);
    if (failed === undefined) return ready(agent, 'kvm');
    options.note?.(`KVM does not work on this host (${failed}): using software emulation, which is slower`);
    rememberKvmFailed(cacheDir, failed);
  } else {
    options.note?.('starting the libguestfs appliance (software emulation: up to a minute)');
  }
  // Under TCG the appliance boots the unpacked kernel, from an appliance cache of its own.
  const emulated = await emulatedApplianceKernel(cacheDir);
  const agent = GuestfsAgent.start({ LIBGUESTFS_CACHEDIR: emulated?.cacheDir ?? cacheDir, ...emulated?.env });
  try {
    await launch(agent, drive, 'tcg');
    return ready(agent, 'tcg');
  } catch (error) {
    await agent.close().catch(() => {});
    throw new SendenseError(
      `could not start the libguestfs appliance on ${drive.file}: ${firstLine((error as Error).message)}`,
      { cause: error },
    );
  }
}

// Launches with its qemu up at most `limit` ms: undefined when it did, else why not, the agent
// ended (its appliance stopped by libguestfs's recovery process once the agent is gone).
async function launchWithin(
  agent: GuestfsAgent,
  drive: Pick<PointDrive, 'filename' | 'opts'>,
  accel: Accel,
  limit: number,
): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  let qemuSince: number | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setInterval(() => {
      if (qemuSince === undefined) {
        if (hasQemuChild(agent.pid)) qemuSince = performance.now();
      } else if (performance.now() - qemuSince > limit) resolve('late');
    }, QEMU_POLL_MS);
  });
  const outcome = await Promise.race([
    launch(agent, drive, accel).then(
      () => undefined,
      (error: unknown) => firstLine((error as Error).message),
    ),
    late,
  ]);
  clearInterval(timer);
  if (outcome === undefined) return undefined;
  if (outcome === 'late') {
    agent.kill();
    await Promise.race([agent.exit, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    return `the appliance did not start within ${limit / 1000} s of its qemu`;
  }
  await agent.close().catch(() => {});
  return outcome;
}

// Whether the agent has started the appliance's qemu (libguestfs forks it from the process that
// launches: a child of the agent, its command qemu-system-* or qemu-kvm).
function hasQemuChild(agentPid: number): boolean {
  return readdirSync('/proc').some((entry) => {
    if (!/^\d+$/.test(entry)) return false;
    const stat = readProcStat(entry);
    return stat?.parentPid === agentPid && stat.command.startsWith('qemu');
  });
}

async function launch(agent: GuestfsAgent, drive: Pick<PointDrive, 'filename' | 'opts'>, accel: Accel): Promise<void> {
  if (accel === 'tcg') await agent.call('set_backend_settings', [['force_tcg']]);
  // Listing and copying files needs little memory; a smaller guest boots a little faster under TCG.
  await agent.call('set_memsize', [512]);
  await agent.call('add_drive', [drive.filename], drive.opts);
  await agent.call('launch');
}

// libguestfs errors end with "see earlier error messages"; the useful part is before that.
function firstLine(message: string): string {
  return message
    .split('\n')[0]
    .replace(/,? see (earlier|debug) (error )?messages.*$/, '')
    .trim();
}
