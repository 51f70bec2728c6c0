// replicate plans (docs/replication.md): a sync reads the VM's source as a backup does, with change
// tracking of its own, and writes through the hub (which keeps no copy) into a new layer on the
// replica node; the layer becomes the replica's newest point only once every disk is complete.
// Older points beyond replica.points are folded in after a successful sync.

import { unresolvedRun } from '../../engine/run-context.js';
import { bytesFacts } from '../../engine/step-facts.js';
import type { Step } from '../../engine/step.js';
import { openReplicaNode } from '../../replica/replica-node.js';
import { allocatePorts } from '../../steps/allocate-ports.js';
import { openTunnel } from '../../steps/open-tunnel.js';
import { openTransfer } from '../backup/open-transfer.js';
import { snapshotSource } from '../backup/snapshot-source.js';
import { transfer } from '../backup/transfer.js';
import type { KindModule } from '../kind.js';
import { createLayers } from './create-layers.js';
import { defineReplicaDomainStep } from './define-replica-domain.js';
import { foldPoints } from './fold-points.js';
import { installPoint } from './install-point.js';
import type { ReplicateRun, SyncState } from './replicate-run.js';
import { resolveSync } from './resolve-sync.js';
import { startReplicaNbdServers } from './start-replica-nbd.js';

// The point's time is when its snapshot is taken: the replica's lag is counted from there.
const snapshotForSync: Step<ReplicateRun> = {
  ...snapshotSource,
  async run(run) {
    const takenAt = new Date().toISOString();
    const summary = await snapshotSource.run(run);
    run.state.takenAt = takenAt;
    await run.store.replicaPointTaken(run.state.backupId, takenAt);
    return summary;
  },
};

// One step a line, in the order they run.
// prettier-ignore
export const replicateSteps: readonly Step<ReplicateRun>[] = [
  resolveSync,
  allocatePorts,
  createLayers,
  startReplicaNbdServers,
  openTunnel,
  snapshotForSync,
  transfer,
  installPoint,
  defineReplicaDomainStep,
];

export const replicateKind: KindModule<ReplicateRun> = {
  steps: replicateSteps,
  afterSteps: [foldPoints],
  cleanup:
    'stop qemu-nbd on the replica node and the relays, close the tunnel, release the ports; on failure delete the new layers and change tracking',
  async open(base, mode) {
    const { plan } = base;
    const replicaNode = await openReplicaNode(plan, mode);
    try {
      const transfer = await openTransfer(base, mode);
      return unresolvedRun<ReplicateRun, SyncState>(
        { ...base, plan, replicaNode, ...transfer } as ReplicateRun,
        'resolve-sync',
      );
    } catch (error) {
      await replicaNode.close();
      throw error;
    }
  },
  async close(run) {
    await run.replicaNode.close();
  },
  endFacts(run) {
    if (!run.resolved || run.state.backupId === undefined) return {};
    return { backupId: run.state.backupId, taken: run.state.type, ...bytesFacts(run.state.disks, true) };
  },
  async disksToTransfer(plan, store) {
    if (plan.vm.source.disks.length > 0) return plan.vm.source.disks.length;
    return (await store.latestCompleteReplicaPoint(plan.name))?.disks.length ?? 1;
  },
};
