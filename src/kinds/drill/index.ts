// drill plans (docs/drills.md): serve the point's chain read-only on the hub (a replica's point:
// its layers on the replica node, served by nothing), put an overlay per disk on the node over it, start an isolated transient domain on the overlays, run the checks,
// record them; cleanup destroys the domain and removes everything the drill made.

import { unresolvedRun } from '../../engine/run-context.js';
import type { Step } from '../../engine/step.js';
import { execOn, virshOn } from '../../libvirt/virsh.js';
import { allocatePorts } from '../../steps/allocate-ports.js';
import { openTunnel } from '../../steps/open-tunnel.js';
import { startQemuNbdServers } from '../../steps/start-qemu-nbd.js';
import type { ServingRun } from '../../steps/serving-run.js';
import type { KindModule } from '../kind.js';
import { createDrillNetwork } from './create-drill-network.js';
import { createDrillOverlays } from './create-drill-overlays.js';
import type { DrillRun, DrillState } from './drill-run.js';
import { resolveDrill } from './resolve-drill.js';
import { runChecks } from './run-checks.js';
import { startDrill } from './start-drill.js';

// A step that serves the point from the hub: a replica's point is on the node already (docs/drills.md#a-replicas-point).
function fromTheHub(step: Step<ServingRun>): Step<DrillRun> {
  return {
    ...step,
    skip: (run) =>
      run.plan.drill.replica === undefined
        ? step.skip?.(run)
        : `the replica's point is read where it is, on ${run.node.description}`,
  };
}

// One step a line, in the order they run.
// prettier-ignore
export const drillSteps: readonly Step<DrillRun>[] = [
  resolveDrill,
  fromTheHub(allocatePorts),
  fromTheHub(startQemuNbdServers({ readOnly: true, socketsOnly: true })),
  fromTheHub(openTunnel),
  createDrillNetwork,
  createDrillOverlays,
  startDrill,
  runChecks,
];

export const drillKind: KindModule<DrillRun> = {
  steps: drillSteps,
  afterSteps: [],
  cleanup:
    "destroy the drill's domain, remove its overlays and directory and its isolated bridge and namespace, stop qemu-nbd, close the tunnel, release the ports",
  async open(base) {
    const { plan } = base;
    const virsh = virshOn(execOn(base.node), plan.drill.uri);
    return unresolvedRun<DrillRun, DrillState>({ ...base, plan, virsh } as DrillRun, 'resolve-point');
  },
  endFacts(run) {
    if (!run.resolved) return {};
    return { backupId: run.state.backupId || undefined };
  },
  // Nothing is copied into the repository or out of it through the hub's disk slots.
  async disksToTransfer() {
    return 0;
  },
};
