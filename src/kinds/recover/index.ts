// recover plans (docs/instant-recovery.md): serve the point's chain read-only on the hub, put an
// overlay per disk on the node over it, define and start the domain on the overlays, then move
// its storage home while it runs; the served point stops only once nothing reads it.

import { unresolvedRun } from '../../engine/run-context.js';
import type { Step } from '../../engine/step.js';
import { execOn, virshOn } from '../../libvirt/virsh.js';
import { allocatePorts } from '../../steps/allocate-ports.js';
import { openTunnel } from '../../steps/open-tunnel.js';
import { startQemuNbdServers } from '../../steps/start-qemu-nbd.js';
import type { KindModule } from '../kind.js';
import { createOverlays } from './create-overlays.js';
import { defineDomain } from './define-domain.js';
import { moveStorage } from './move-storage.js';
import type { RecoverRun, RecoverState } from './recover-run.js';
import { resolveRecovery } from './resolve-recovery.js';
import { serveWhileUsed } from './serve-while-used.js';
import { startDomain } from './start-domain.js';

// One step a line, in the order they run.
// prettier-ignore
export const recoverSteps: readonly Step<RecoverRun>[] = [
  resolveRecovery,
  allocatePorts,
  startQemuNbdServers({ readOnly: true, socketsOnly: true }),
  openTunnel,
  createOverlays,
  defineDomain,
  startDomain,
  moveStorage,
  serveWhileUsed,
];

export const recoverKind: KindModule<RecoverRun> = {
  steps: recoverSteps,
  afterSteps: [],
  cleanup: 'remove the overlays once nothing reads them, stop qemu-nbd, close the tunnel, release the ports',
  async open(base) {
    const { plan } = base;
    const virsh = virshOn(execOn(base.node), plan.recover.to.uri);
    return unresolvedRun<RecoverRun, RecoverState>({ ...base, plan, virsh } as RecoverRun, 'resolve-point');
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
