// What `status` says of a backup plan's ransomware signals (docs/anomaly.md#status): its VM's
// suspect points not cleared yet (status exits 1 for them), or that it is still learning.

import type { BackupPlan } from '../plan/types.js';
import type { Backup, Store } from '../store/index.js';

export interface AnomalyStatus {
  /** Suspect points of the VM in the plan's repository not cleared yet, oldest first. */
  readonly suspectPoints: readonly { readonly id: string; readonly reasons: string }[];
  /** "learning: N of M incrementals with figures" while no point can be marked yet; null after. */
  readonly learning: string | null;
}

export async function anomalyStatus(
  plan: BackupPlan,
  backups: readonly Backup[],
  store: Store | undefined,
): Promise<AnomalyStatus> {
  const suspectPoints = backups
    .filter((backup) => backup.repository === plan.repository.path)
    .filter((backup) => backup.suspect !== null && backup.suspectClearedBy === null)
    .map((backup) => ({ id: backup.id, reasons: backup.suspect! }));
  if (!plan.anomaly.enabled) return { suspectPoints, learning: null };
  const have =
    store === undefined
      ? 0
      : (await store.pointFiguresHistory(plan.vm.name, plan.repository.path, plan.anomaly.learn)).length;
  const learning =
    have < plan.anomaly.learn
      ? `learning: ${have} of ${plan.anomaly.learn} incrementals with figures; no point is marked suspect before`
      : null;
  return { suspectPoints, learning };
}
