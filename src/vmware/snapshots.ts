// The snapshot a backup reads at (docs/vmware.md#what-a-run-does): made with a name that says whose it
// is, removed by its moref; doctor finds a dead run's by that name on that VM and no other.

import { SendenseError } from '../errors.js';
import { child, childElements, childText, moRefOf, xmlEscape, moRefXml, type MoRef } from './soap-xml.js';
import { disksOf, type VmDisk } from './vm-inventory.js';
import type { VimClient } from './vim-client.js';

/** A run's snapshot name: nobody else's snapshot carries it. */
export function ownSnapshotName(runId: string): string {
  return `sendense-${runId}`;
}

/** `asked`: told vSphere's task before it is waited for (a run records it: doctor's clue after a kill). */
export async function createSnapshot(
  client: VimClient,
  vm: MoRef,
  name: string,
  quiesce: boolean,
  asked: (task: MoRef) => Promise<void> = async () => {},
): Promise<MoRef> {
  const body = `${moRefXml('_this', vm)}<name>${xmlEscape(name)}</name><description>sendense-run backup (removed when the backup ends)</description><memory>false</memory><quiesce>${quiesce}</quiesce>`;
  const task = await client.startTask('CreateSnapshot_Task', body);
  await asked(task);
  const result = await client.waitForTask('CreateSnapshot_Task', task);
  if (result === undefined) throw new SendenseError('vSphere made the snapshot but did not say which it is');
  return moRefOf(result);
}

export async function removeSnapshot(client: VimClient, snapshot: MoRef): Promise<void> {
  await client.runTask(
    'RemoveSnapshot_Task',
    `${moRefXml('_this', snapshot)}<removeChildren>false</removeChildren><consolidate>true</consolidate>`,
  );
}

/** The disks of a snapshot's configuration: the files it froze, with their change ids at its instant. */
export async function snapshotDisks(client: VimClient, snapshot: MoRef): Promise<readonly VmDisk[]> {
  const devices = (await client.properties(snapshot, ['config.hardware.device']))?.get('config.hardware.device');
  if (devices === undefined)
    throw new SendenseError(`snapshot ${snapshot.value} has no configuration in vSphere (removed meanwhile?)`);
  return disksOf(devices);
}

/** Every snapshot of a VM named `name` (a tree walked whole). */
export async function snapshotsNamed(client: VimClient, vm: MoRef, name: string): Promise<MoRef[]> {
  const info = (await client.properties(vm, ['snapshot']))?.get('snapshot');
  if (info === undefined) return [];
  const found: MoRef[] = [];
  const walk = (list: ReturnType<typeof childElements>): void => {
    for (const tree of list) {
      const ref = child(tree, 'snapshot');
      if (ref !== undefined && childText(tree, 'name') === name) found.push(moRefOf(ref));
      walk(childElements(tree, 'childSnapshotList'));
    }
  };
  walk(childElements(info, 'rootSnapshotList'));
  return found;
}

/** How many snapshots the VM carries (a VM with others has delta disks at ours). */
export async function snapshotCount(client: VimClient, vm: MoRef): Promise<number> {
  const info = (await client.properties(vm, ['snapshot']))?.get('snapshot');
  if (info === undefined) return 0;
  const count = (list: ReturnType<typeof childElements>): number =>
    list.reduce((sum, tree) => sum + 1 + count(childElements(tree, 'childSnapshotList')), 0);
  return count(childElements(info, 'rootSnapshotList'));
}

export async function enableChangeTracking(client: VimClient, vm: MoRef): Promise<void> {
  await client.runTask(
    'ReconfigVM_Task',
    `${moRefXml('_this', vm)}<spec><changeTrackingEnabled>true</changeTrackingEnabled></spec>`,
  );
}
