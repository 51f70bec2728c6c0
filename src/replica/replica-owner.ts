// One replica per plan (docs/replication.md#one-replica-per-plan): a sync refuses a replica.path
// the state database records as another plan's replica on the same node, and one a running
// program holds open for writing (a VM failed over to it, whatever state database it came from).

import { SendenseError } from '../errors.js';
import type { NodeExec } from '../libvirt/virsh.js';
import type { Store } from '../store/index.js';
import { existingFiles } from './replica-files.js';
import { imageInfoProbeArgv } from '../qemu/command-lines.js';

// The statuses of a point whose files are (or may still be) on the replica node.
const LIVE = ['running', 'installing', 'complete', 'folding'] as const;

export async function refuseOtherPlansReplica(
  store: Store,
  plan: string,
  node: { readonly id: string; readonly description: string },
  paths: readonly string[],
): Promise<void> {
  const points = await store.listReplicaPoints({ statuses: LIVE });
  for (const point of points) {
    if (point.plan === plan || point.replicaNode !== node.id) continue;
    const shared = point.disks.find((disk) => paths.includes(disk.path));
    if (shared === undefined) continue;
    throw new SendenseError(
      `replica.path ${shared.path} on ${node.description} is the replica of plan ${point.plan} (point ${point.id}): each replicate plan needs its own replica.path, a sync never installs over another plan's replica`,
      { step: 'resolve-sync', exitCode: 1 },
    );
  }
}

// QEMU locks the images it writes: `qemu-img info` (not -U) cannot take its shared lock on one a VM runs on.
export async function refuseReplicaInUse(
  exec: NodeExec,
  node: { readonly description: string },
  paths: readonly string[],
): Promise<void> {
  for (const file of await existingFiles(exec, paths)) {
    const info = await exec(imageInfoProbeArgv(file));
    if (info.exitCode === 0 || !/lock/i.test(info.stderr)) continue;
    throw new SendenseError(
      `${file} on ${node.description} is in use by a running program (a VM?): a sync never installs over a disk in use (${info.stderr.trim().split('\n').pop()})`,
      {
        step: 'resolve-sync',
        exitCode: 1,
      },
    );
  }
}
