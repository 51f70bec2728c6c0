// `retire`: a backup plan's checkpoints (and their bitmaps) deleted from its domain, its points kept
// restorable, its chains recorded as retired first, so the plan's next run, if any, takes a full
// into a new chain instead of looking for them (docs/commands.md#retire). The caller holds the VM's
// lock: no run of the plan is taking or reading a checkpoint meanwhile.

import { isSendenseError } from '../errors.js';
import type { BackupPlan, LibvirtSource } from '../plan/types.js';
import type { Store } from '../store/index.js';
import type { CheckpointOwnership } from './checkpoint-owners.js';
import { domainCheckpoints, withDomainNode } from './domain-checkpoints.js';

/** A backup plan of a libvirt domain: the plans retire takes. */
export type LibvirtBackupPlan = BackupPlan & { readonly vm: { readonly source: LibvirtSource } };

export interface RetireOutcome {
  /** The plan's chains, now retired (or that would be). */
  readonly chains: readonly string[];
  /** Its points, all kept. */
  readonly points: number;
  /** Its checkpoints deleted (or that would be). */
  readonly checkpoints: readonly string[];
  /** Other orphaned checkpoints on the domain (no plan's: doctor's to delete, with consent). */
  readonly otherOrphans: number;
  /** Why nothing was looked for on the domain, if so (it does not exist any more). */
  readonly domainGone?: string;
}

export async function retirePlan(
  store: Store,
  plan: LibvirtBackupPlan,
  run: { readonly id: string } | 'dry-run',
): Promise<RetireOutcome> {
  const points = (await store.listBackups({ vm: plan.vm.name })).filter(
    (backup) => backup.plan === plan.name && backup.repository === plan.repository.path && backup.status !== 'running',
  );
  const chains = [...new Set(points.map((point) => point.chainId))];
  if (run !== 'dry-run')
    await store.retireChains(
      chains.map((chainId) => ({
        chainId,
        plan: plan.name,
        vm: plan.vm.name,
        repository: plan.repository.path,
        runId: run.id,
      })),
    );
  const { domain, uri } = plan.vm.source;
  const outcome = { chains, points: points.length };
  try {
    return await withDomainNode(plan.node, async (host) => {
      const found = await domainCheckpoints(store, host, { uri, domain });
      const mine = found.checkpoints.filter((checkpoint) => isPlans(checkpoint, plan));
      for (const checkpoint of mine) if (run !== 'dry-run') await found.remove(checkpoint.name);
      const otherOrphans = found.checkpoints.filter(
        (checkpoint) => checkpoint.state === 'orphaned' && !mine.includes(checkpoint),
      ).length;
      return { ...outcome, checkpoints: mine.map((checkpoint) => checkpoint.name), otherOrphans };
    });
  } catch (error) {
    // The VM deleted since: nothing left to delete there; its chains are retired all the same.
    if (isSendenseError(error) && error.exitCode === 2)
      return { ...outcome, checkpoints: [], otherOrphans: 0, domainGone: error.message };
    throw error;
  }
}

// A checkpoint one of the plan's points recorded (its newest, or one left behind); a run's is the run's.
function isPlans(checkpoint: CheckpointOwnership, plan: LibvirtBackupPlan): boolean {
  return (
    (checkpoint.state === 'owned' || checkpoint.state === 'orphaned') &&
    checkpoint.plan === plan.name &&
    checkpoint.repository === plan.repository.path
  );
}
