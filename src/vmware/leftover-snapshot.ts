// A snapshot a killed run left on a VM (docs/vmware.md#after-a-crash): doctor, or the next run on
// that VM, logs in again as the run did and removes the snapshots of that VM that carry the run's
// own name, and no other. vSphere makes a snapshot in a task that goes on after the run is killed:
// that task is waited for first, so a snapshot that appears after the look is not left forever.

import { SendenseError } from '../errors.js';
import type { VmwareSource } from '../plan/types.js';
import type { MoRef } from './soap-xml.js';
import { removeSnapshot, snapshotsNamed } from './snapshots.js';
import { TaskStillRunning, VimFault, type VimClient } from './vim-client.js';
import { openSession } from './vsphere-session.js';

/** The node resource a run records before it makes its snapshot. */
export const VMWARE_SNAPSHOT_RESOURCE = 'vmware-snapshot';

// How long a doctor waits for vSphere to finish a dead run's snapshot: one without memory takes
// seconds; one still going after this is left, with its record, to the next doctor.
const MAKING_WAIT_MS = 20_000;

/** What the run recorded: where, as whom, the password's variable or file (never the password), the VM. */
export interface SnapshotRecordFacts {
  readonly endpoint: string;
  readonly username: string;
  readonly passwordEnv: string | null;
  readonly passwordFile: string | null;
  readonly certificateSha256: string | null;
  readonly vm: string;
  /** vSphere's CreateSnapshot task, once vSphere took the request (absent: killed before, or while asking). */
  readonly task?: string;
}

// How many snapshots named `name` it removed; throws, the record to be kept, while one may still come.
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
    await untilMade(client, vm, facts.task);
    const found = await snapshotsNamed(client, vm, name);
    for (const snapshot of found) await removeSnapshot(client, snapshot);
    return found.length;
  } finally {
    await client.logout();
  }
}

// Until the run's snapshot task has ended: the recorded one, or without one (the run may have been
// killed while asking) any snapshot task of the VM still running, which may be the run's.
async function untilMade(client: VimClient, vm: MoRef, recorded: string | undefined): Promise<void> {
  const tasks = recorded === undefined ? await snapshotTasksRunning(client, vm) : [{ type: 'Task', value: recorded }];
  const deadline = Date.now() + MAKING_WAIT_MS;
  for (const task of tasks) {
    try {
      await client.waitForTask('CreateSnapshot_Task', task, deadline);
    } catch (error) {
      if (error instanceof TaskStillRunning)
        throw new SendenseError(
          `vSphere is still making a snapshot of the VM (task ${task.value}${recorded === undefined ? ", maybe not this run's" : ''}) after ${MAKING_WAIT_MS / 1000} s: its record is kept; run doctor again once the task has ended`,
        );
      // Failed, or long over (vSphere forgot it): a snapshot it made carries the name.
      if (!(error instanceof VimFault)) throw error;
    }
  }
}

async function snapshotTasksRunning(client: VimClient, vm: MoRef): Promise<MoRef[]> {
  const running: MoRef[] = [];
  for (const task of await client.recentTasks()) {
    const state = await client.taskState(task);
    if (
      state?.descriptionId === 'VirtualMachine.createSnapshot' &&
      state.entity === vm.value &&
      (state.state === 'queued' || state.state === 'running')
    )
      running.push(task);
  }
  return running;
}
