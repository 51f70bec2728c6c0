// The replica node a sync or a failover works on (docs/replication.md#the-data-path): this host, or
// its own SSH link with the plan's replica.node settings (host key checked), closed by the caller.
// A dry run names it without contacting it.

import { createLocalNode } from '../node/local.js';
import type { NodeHost } from '../node/node.js';
import { uncontactedNode } from '../node/uncontacted-node.js';
import type { ReplicatePlan } from '../plan/types.js';

export async function openReplicaNode(plan: ReplicatePlan, mode: 'run' | 'dry-run' = 'run'): Promise<NodeHost> {
  if (plan.replica.node === undefined) return createLocalNode();
  if (mode === 'dry-run') return uncontactedNode(plan.replica.node);
  const { connectSshNode } = await import('../node/ssh.js');
  return connectSshNode(plan.replica.node);
}

// How a command runs there, as virsh and the replica's file work want it.
export { execOn } from '../libvirt/virsh.js';
