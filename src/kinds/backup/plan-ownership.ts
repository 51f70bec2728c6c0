// A plan owns the VM it first backed up (docs/how-it-works.md#plans-that-share-a-vm): a plan name
// recorded with another VM, or a disk recorded as another VM's, is refused at run time in one
// line, so a copied plan file never puts a VM's disks under a new name without a word.

import { SendenseError } from '../../errors.js';
import type { BackupPlan } from '../../plan/types.js';
import type { Store } from '../../store/index.js';

export async function refuseOtherVm(
  store: Store,
  plan: BackupPlan,
  disks: readonly { readonly key: number; readonly label: string }[],
  node: string,
): Promise<void> {
  const others = (await store.listBackups()).filter((backup) => backup.vm !== plan.vm.name);
  const named = others.find((backup) => backup.plan === plan.name);
  if (named !== undefined) {
    throw new SendenseError(
      `plan ${plan.name} already backs up VM ${named.vm} (backup ${named.id}), not ${plan.vm.name}: a plan name belongs to one VM; rename this plan`,
      {
        file: plan.origin.file,
        step: 'resolve-chain',
        exitCode: 1,
      },
    );
  }
  for (const disk of disks) {
    const owner = others.find((backup) =>
      backup.disks.some((recorded) => recorded.source === disk.label && recorded.sourceNode === node),
    );
    if (owner === undefined) continue;
    throw new SendenseError(
      `disk ${disk.key} (${disk.label}) is recorded as a disk of VM ${owner.vm} (backup ${owner.id}), not ${plan.vm.name}: name the VM ${owner.vm} in this plan`,
      {
        file: plan.origin.file,
        step: 'resolve-chain',
        exitCode: 1,
      },
    );
  }
}
