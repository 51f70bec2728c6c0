// The libguestfs appliance of one command: a backup file added read-only through its backing
// chain (libguestfs puts a throw-away overlay on top, so even a journal replay never touches
// the repository), KVM when it works, software emulation otherwise, said once.

import { SendenseError } from '../errors.js';
import { applianceCacheDir, firstAccel, rememberKvmFailed, type Accel } from './accel-choice.js';
import { GuestfsAgent } from './guestfs-agent.js';

export interface ApplianceOptions {
  /** One line for the user (e.g. that software emulation is used and why). */
  readonly note?: (line: string) => void;
}

export interface OpenAppliance {
  readonly agent: GuestfsAgent;
  readonly accel: Accel;
}

// Starts the appliance on `file` (qcow2, read through its backing files).
export async function openAppliance(file: string, options: ApplianceOptions = {}): Promise<OpenAppliance> {
  const cacheDir = applianceCacheDir();
  const agent = GuestfsAgent.start({ LIBGUESTFS_CACHEDIR: cacheDir });
  try {
    let accel = firstAccel(cacheDir);
    try {
      await launch(agent, file, accel);
    } catch (error) {
      if (accel === 'tcg') throw error;
      const reason = firstLine((error as Error).message);
      options.note?.('KVM does not work on this host (the appliance did not start with it): using software emulation, which is slower');
      rememberKvmFailed(cacheDir, reason);
      accel = 'tcg';
      await agent.call('new_handle');
      await launch(agent, file, accel);
    }
    return { agent, accel };
  } catch (error) {
    await agent.close().catch(() => {});
    throw new SendenseError(`could not start the libguestfs appliance on ${file}: ${firstLine((error as Error).message)}`, { cause: error });
  }
}

async function launch(agent: GuestfsAgent, file: string, accel: Accel): Promise<void> {
  if (accel === 'tcg') await agent.call('set_backend_settings', [['force_tcg']]);
  // Listing and copying files needs little memory; a smaller guest boots a little faster under TCG.
  await agent.call('set_memsize', [512]);
  await agent.call('add_drive', [file], { readonly: 1, format: 'qcow2' });
  await agent.call('launch');
}

// libguestfs errors end with "see earlier error messages"; the useful part is before that.
function firstLine(message: string): string {
  return message
    .split('\n')[0]
    .replace(/,? see (earlier|debug) (error )?messages.*$/, '')
    .trim();
}
