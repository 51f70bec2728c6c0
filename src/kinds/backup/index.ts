// backup and incremental plans (docs/how-it-works.md#the-data-path): resolve the chain, serve new
// qcow2 files on the hub, push the disks' data into them from the node, record the change_ids;
// cleanup is the engine's undo loop, retention runs after a successful run.

import { unresolvedRun } from '../../engine/run-context.js';
import { bytesFacts } from '../../engine/step-facts.js';
import type { Step } from '../../engine/step.js';
import { allocatePorts } from '../../steps/allocate-ports.js';
import { anomalyCheck } from './anomaly-check.js';
import { openTunnel } from '../../steps/open-tunnel.js';
import { startQemuNbdServers } from '../../steps/start-qemu-nbd.js';
import { ChainRefusedAtSnapshot } from '../../source/index.js';
import type { KindModule } from '../kind.js';
import type { BackupRun, BackupState } from './backup-run.js';
import { createQcow2Files } from './create-qcow2.js';
import { openTransfer } from './open-transfer.js';
import { recordChangeIds } from './record-change-ids.js';
import { resolveChain } from './resolve-chain.js';
import { retention } from './retention.js';
import { snapshotSource } from './snapshot-source.js';
import { transfer } from './transfer.js';

// One step a line, in the order they run.
// prettier-ignore
export const backupSteps: readonly Step<BackupRun>[] = [
  resolveChain,
  allocatePorts,
  createQcow2Files,
  startQemuNbdServers({ readOnly: false, transferOnly: true }),
  openTunnel,
  snapshotSource,
  transfer,
  recordChangeIds,
];

export const backupKind: KindModule<BackupRun> = {
  steps: backupSteps,
  afterSteps: [anomalyCheck, retention],
  cleanup: 'stop qemu-nbd, close the tunnel, release the ports; on failure delete the new files and bitmaps',
  async open(base, mode) {
    const transfer = await openTransfer(base, mode);
    return unresolvedRun<BackupRun, BackupState>({ ...base, ...transfer } as BackupRun, 'resolve-chain');
  },
  // The step's failure carries the source's own error as its cause (asRunError).
  again: (error) =>
    error instanceof ChainRefusedAtSnapshot || error.cause instanceof ChainRefusedAtSnapshot
      ? `${error.message}: the backup is taken again, from resolve-chain`
      : undefined,
  endFacts(run) {
    if (!run.resolved || !run.state.backupId) return {};
    return {
      backupId: run.state.backupId,
      taken: run.state.type,
      ...bytesFacts(run.state.disks, true),
      ...(run.state.suspect !== undefined && { suspect: run.state.suspect }),
    };
  },
  // The disks the plan lists; a libvirt domain's, known only once asked, as many as its latest backup had (an estimate).
  async disksToTransfer(plan, store) {
    if (plan.vm.source.disks.length > 0) return plan.vm.source.disks.length;
    return (await store.latestCompleteBackup(plan.vm.name, plan.repository.path))?.disks.length ?? 1;
  },
};
