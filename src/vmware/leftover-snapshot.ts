// A snapshot a killed run left on a VM (docs/vmware.md#after-a-crash): doctor, or the next run on
// that VM, logs in again as the run did and removes the snapshots of that VM that carry the run's
// own name, and no other.

import type { VmwareSource } from '../plan/types.js';
import { removeSnapshot, snapshotsNamed } from './snapshots.js';
import { openSession } from './vsphere-session.js';

/** The node resource a run records before it makes its snapshot. */
export const VMWARE_SNAPSHOT_RESOURCE = 'vmware-snapshot';

/** What the run recorded: where, as whom, the password's variable or file (never the password), the VM. */
export interface SnapshotRecordFacts {
  readonly endpoint: string;
  readonly username: string;
  readonly passwordEnv: string | null;
  readonly passwordFile: string | null;
  readonly certificateSha256: string | null;
  readonly vm: string;
}

// How many snapshots named `name` it removed.
export async function removeLeftoverSnapshot(facts: SnapshotRecordFacts, name: string): Promise<number> {
  const source = {
    type: 'vmware',
    client: 'sendense-run',
    endpoint: facts.endpoint,
    username: facts.username,
    ...(facts.passwordEnv === null ? {} : { passwordEnv: facts.passwordEnv }),
    ...(facts.passwordFile === null ? {} : { passwordFile: facts.passwordFile }),
    ...(facts.certificateSha256 === null ? {} : { certificateSha256: facts.certificateSha256 }),
    path: facts.vm,
    quiesce: false,
    cbt: 'require',
    disks: [],
    clientPath: '',
  } satisfies VmwareSource;
  const client = await openSession(source);
  try {
    const vm = { type: 'VirtualMachine', value: facts.vm };
    const found = await snapshotsNamed(client, vm, name);
    for (const snapshot of found) await removeSnapshot(client, snapshot);
    return found.length;
  } finally {
    await client.logout();
  }
}
