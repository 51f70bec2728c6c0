// restore plans with a file, NBD or domain target (docs/how-it-works.md#the-data-path): serve the
// chosen point's chain read-only on the hub, copy it into the targets on the node, compare, put in
// place (a domain target then defines its new domain).

import { unresolvedRun } from '../../engine/run-context.js';
import { bytesFacts } from '../../engine/step-facts.js';
import type { Step } from '../../engine/step.js';
import { allocatePorts } from '../../steps/allocate-ports.js';
import { openTunnel } from '../../steps/open-tunnel.js';
import { startQemuNbdServers } from '../../steps/start-qemu-nbd.js';
import { diskTarget } from '../../restore/targets/index.js';
import type { KindModule } from '../kind.js';
import { placeTarget } from './place-target.js';
import { prepareTarget } from './prepare-target.js';
import { resolvePoint } from './resolve-point.js';
import { restoreTransfer } from './restore-transfer.js';
import type { RestoreRun, RestoreState } from './restore-run.js';
import { verify } from './verify.js';

// One step a line, in the order they run.
// prettier-ignore
export const restoreSteps: readonly Step<RestoreRun>[] = [
  resolvePoint,
  allocatePorts,
  startQemuNbdServers({ readOnly: true, transferOnly: true }),
  openTunnel,
  prepareTarget,
  restoreTransfer,
  verify,
  placeTarget,
];

export const restoreKind: KindModule<RestoreRun> = {
  steps: restoreSteps,
  afterSteps: [],
  cleanup: 'stop qemu-nbd, close the tunnel, release the ports',
  async open(base) {
    const { plan } = base;
    return unresolvedRun<RestoreRun, RestoreState>(
      { ...base, plan, target: diskTarget(plan.restore.target) } as RestoreRun,
      'resolve-point',
    );
  },
  endFacts(run) {
    if (!run.resolved) return {};
    return { backupId: run.state.backupId || undefined, ...bytesFacts(run.state.disks) };
  },
  // The disks restored, or those of the latest point (an estimate: the slots only bound how many go at once).
  async disksToTransfer(plan, store) {
    if (plan.restore.disks) return plan.restore.disks.length;
    return (await store.latestCompleteBackup(plan.vm.name, plan.repository.path))?.disks.length ?? 1;
  },
};
