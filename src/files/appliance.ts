// The libguestfs appliance of one command: a backup file added read-only through its backing
// chain, or an encrypted one's read-only NBD export (./point-drive.ts); libguestfs puts a throw-away
// overlay on top, so even a journal replay never touches the repository. KVM when it works,
// software emulation otherwise, said once.

import { performance } from 'node:perf_hooks';
import { SendenseError } from '../errors.js';
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

// Starts the appliance on the point's drive (openPointDrive).
export async function openAppliance(
  drive: Pick<PointDrive, 'filename' | 'opts' | 'file'>,
  options: ApplianceOptions = {},
): Promise<OpenAppliance> {
  const cacheDir = applianceCacheDir();
  const started = performance.now();
  let accel = firstAccel(cacheDir);
  // Under TCG the appliance boots the unpacked kernel, from an appliance cache of its own.
  const emulated = accel === 'tcg' ? await emulatedApplianceKernel(cacheDir) : undefined;
  const agent = GuestfsAgent.start({ LIBGUESTFS_CACHEDIR: emulated?.cacheDir ?? cacheDir, ...emulated?.env });
  try {
    options.note?.(
      `starting the libguestfs appliance (${accel === 'tcg' ? 'software emulation: up to a minute' : 'KVM: a few seconds'})`,
    );
    try {
      await launch(agent, drive, accel);
    } catch (error) {
      if (accel === 'tcg') throw error;
      const reason = firstLine((error as Error).message);
      options.note?.(
        'KVM does not work on this host (the appliance did not start with it): using software emulation, which is slower',
      );
      rememberKvmFailed(cacheDir, reason);
      accel = 'tcg';
      await agent.call('new_handle');
      await launch(agent, drive, accel);
    }
    options.note?.(`appliance ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return { agent, accel };
  } catch (error) {
    await agent.close().catch(() => {});
    throw new SendenseError(
      `could not start the libguestfs appliance on ${drive.file}: ${firstLine((error as Error).message)}`,
      { cause: error },
    );
  }
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
