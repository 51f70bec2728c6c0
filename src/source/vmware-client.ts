// The VMware transfer: sendense-backup-client on the node (runners/README.md). The password comes
// from the hub (passwordEnv / passwordFile) and reaches the client only through its environment.

import { readFileSync } from 'node:fs';
import { SendenseError } from '../errors.js';
import { addSecret } from '../secrets/mask.js';
import type { DiskKey, VmwareSource } from '../plan/types.js';
import { hideFromChildren } from '../process/child-env.js';

/** Environment variable the client reads the vCenter password from. */
export const PASSWORD_ENV = 'VMWARE_PASSWORD';
/** Environment variable with the previous change id per disk (JSON {"2000": "52 66 …/5440"}), for incrementals. */
export const PREVIOUS_CHANGE_IDS_ENV = 'SENDENSE_PREVIOUS_CHANGE_IDS';

// Reads the password on the hub; a missing one is one clear error that never shows a value.
export function vmwarePassword(source: VmwareSource, env: NodeJS.ProcessEnv = process.env): string {
  if (source.passwordEnv !== undefined) {
    hideFromChildren(source.passwordEnv);
    const value = env[source.passwordEnv];
    if (!value)
      throw new SendenseError(
        `the vCenter password variable ${source.passwordEnv} (vm.source.passwordEnv) is not set`,
        { step: 'resolve-chain' },
      );
    return oneLinePassword(value, `variable ${source.passwordEnv} (vm.source.passwordEnv)`);
  }
  if (source.passwordFile !== undefined) {
    try {
      const value = readFileSync(source.passwordFile, 'utf8').replace(/\r?\n$/, '');
      if (value === '') throw new Error('the file is empty');
      return oneLinePassword(value, `file ${source.passwordFile} (vm.source.passwordFile)`);
    } catch (error) {
      if (error instanceof SendenseError) throw error;
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
      throw new SendenseError(
        `cannot read the vCenter password file ${source.passwordFile} (vm.source.passwordFile): ${reason}`,
        {
          step: 'resolve-chain',
        },
      );
    }
  }
  throw new SendenseError('the VMware source has neither passwordEnv nor passwordFile', { step: 'resolve-chain' });
}

// The password travels as one NAME=value line of the client's environment: a newline or NUL
// cannot, and is a mistake in the file or variable (said without showing the value).
function oneLinePassword(value: string, where: string): string {
  // Known from now on: whatever echoes it (the client, an error) is masked before it is shown or stored.
  addSecret(value);
  for (const line of value.split(/\r?\n/)) addSecret(line);
  if (/[\n\r\0]/.test(value)) {
    throw new SendenseError(
      `the vCenter password ${where} holds more than one line (or a NUL byte); it must be the password alone`,
      { step: 'resolve-chain' },
    );
  }
  return value;
}

// `sendense-backup-client migrate …` as runners/README.md gives it; no secret in it.
export function vmwareClientCommand(source: VmwareSource, nbdTargets: string, jobId: string): readonly string[] {
  return [
    source.clientPath,
    'migrate',
    '--vmware-endpoint',
    source.endpoint,
    '--vmware-username',
    source.username,
    '--vmware-path',
    source.path,
    '--nbd-targets',
    nbdTargets,
    '--job-id',
    jobId,
  ];
}

export function vmwareClientEnv(
  password: string,
  previousChangeIds: ReadonlyMap<DiskKey, string> | undefined,
): Readonly<Record<string, string>> {
  const env: Record<string, string> = { [PASSWORD_ENV]: password };
  if (previousChangeIds && previousChangeIds.size > 0)
    env[PREVIOUS_CHANGE_IDS_ENV] = JSON.stringify(Object.fromEntries(previousChangeIds));
  return env;
}

// A VMware full's target is created before the client reports the disk's size: this large
// sparse size (qcow2 stores nothing for it) is shrunk to the reported size after the transfer,
// so VMware disks can be at most 16 TiB here. Shrinking walks every cluster of the cut range:
// 2 MiB clusters (with 64 KiB subclusters, so small writes stay small) make that ~1.5 s, not 48 s.
export const PROVISIONAL_VIRTUAL_SIZE = 16 * 1024 ** 4;
export const PROVISIONAL_FORMAT_OPTIONS: readonly string[] = ['cluster_size=2M', 'extended_l2=on'];
