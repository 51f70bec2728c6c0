// What a run that reads a VM's source (backup, replicate) takes for its transfer as it opens: our
// node transfer started ahead, loading while the steps before the copy run (not the VMware client's;
// an undo entry from then on), and whether its transfer takes the whole VM at once.

import type { RunContext } from '../../engine/run-context.js';
import type { BackupPlan, ReplicatePlan } from '../../plan/types.js';
import { backupSource } from '../../source/index.js';
import { startTransferEarly, type EarlyTransfer } from '../../transfer/run-transfer.js';

export async function openTransfer(
  base: RunContext<BackupPlan | ReplicatePlan>,
  mode: 'run' | 'dry-run',
): Promise<{ readonly earlyTransfer?: EarlyTransfer; readonly wholeVm: boolean }> {
  const source = backupSource(base.plan.vm.source);
  const early = mode === 'run' && source.transfersWith === 'node-transfer';
  const earlyTransfer = early ? await startTransferEarly(base.node, base.undo) : undefined;
  return { earlyTransfer, wholeVm: !source.takesTurns };
}
