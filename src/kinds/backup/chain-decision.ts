// Full or incremental: the one decision that must never guess. An incremental is taken only when
// every disk can continue the chain exactly; anything else is a full into a new chain (or a failure
// when the plan says onMissingChain: fail).

import type { BackupPlan, DiskKey } from '../../plan/types.js';
import { backupSource, type BackupSource, type SourceDiskFacts } from '../../source/index.js';
import type { Backup, RetiredChain } from '../../store/index.js';
import { plural } from '../../format/plural.js';

export type { SourceDiskFacts };
export { ownBitmap } from '../../source/index.js';

export type ChainDecision =
  | { readonly type: 'full'; readonly warning?: string; readonly note?: string }
  | { readonly type: 'incremental' }
  | { readonly type: 'fail'; readonly reason: string };

export function decideChain(
  plan: BackupPlan,
  previous: Backup | undefined,
  chainLength: number,
  facts: readonly SourceDiskFacts[],
  /** What makes the files of `previous`'s chain for a disk unusable (chain-files.ts), if anything. */
  chainProblem: (diskKey: DiskKey) => string | undefined,
  /** Complete points of the VM in the plan's repository that other plans made (never this plan's parents). */
  others: readonly OtherPlanPoints[] = [],
  /** The plan's newest chain, ended by `retire`: a new chain is what was asked for. */
  retired?: RetiredChain,
): ChainDecision {
  if (plan.kind === 'backup') return { type: 'full' };
  if (retired !== undefined) return { type: 'full', note: `${retiredNote(retired)}: taking a full backup` };
  const { onMissingChain, maxChainLength } = plan.incremental;
  const cannot = (reason: string): ChainDecision =>
    onMissingChain === 'fail'
      ? { type: 'fail', reason: `${reason}, and incremental.onMissingChain is 'fail'` }
      : { type: 'full', warning: `${reason}: taking a full backup into a new chain` };

  if (previous === undefined) {
    return onMissingChain === 'fail'
      ? {
          type: 'fail',
          reason: `${noCompleteBackup(plan, others, 'to build an incremental on')}, and incremental.onMissingChain is 'fail'`,
        }
      : { type: 'full', note: `${noCompleteBackup(plan, others, 'yet')}: taking a full backup` };
  }
  if (chainLength >= maxChainLength) {
    return {
      type: 'full',
      note: `chain ${previous.chainId} has ${chainLength} backups (maxChainLength ${maxChainLength}): starting a new chain`,
    };
  }
  const source = backupSource(plan.vm.source);
  for (const fact of facts) {
    const reason = whyNotIncremental(source, fact, previous, chainProblem);
    if (reason !== undefined) return cannot(reason);
  }
  return { type: 'incremental' };
}

function whyNotIncremental(
  source: BackupSource,
  fact: SourceDiskFacts,
  previous: Backup,
  chainProblem: (diskKey: DiskKey) => string | undefined,
): string | undefined {
  const parentDisk = previous.disks.find((disk) => disk.diskKey === fact.key);
  if (parentDisk === undefined) return `disk ${fact.key} is not in backup ${previous.id}`;
  if (source.sizeKnownBeforeTransfer && parentDisk.virtualSize !== fact.virtualSize) {
    return `disk ${fact.key} changed size since backup ${previous.id} (${parentDisk.virtualSize} -> ${fact.virtualSize} bytes)`;
  }
  const problem = chainProblem(fact.key);
  if (problem !== undefined) return problem;
  return source.whyNotIncremental(fact, parentDisk, previous);
}

/** How many complete points of the VM in the repository one other plan made. */
export interface OtherPlanPoints {
  readonly plan: string;
  readonly points: number;
}

// "no complete backup of web01 in REPO yet"; naming the plan when other plans' points of the VM lie
// there, which a plan never builds on (docs/how-it-works.md#plans-that-share-a-vm).
export function noCompleteBackup(plan: BackupPlan, others: readonly OtherPlanPoints[], then: string): string {
  const { vm, repository, name } = plan;
  if (others.length === 0) return `no complete backup of ${vm.name} in ${repository.path} ${then}`;
  const theirs = others.map((other) => `plan ${other.plan} has ${plural(other.points, 'point')} there`).join(', ');
  return `no complete backup of ${vm.name} by plan ${name} in ${repository.path} ${then} (${theirs})`;
}

// "chain C of plan P was retired on T (run R)": why the next run starts a new chain.
export function retiredNote(retired: RetiredChain): string {
  return `chain ${retired.chainId} of plan ${retired.plan} was retired at ${retired.retiredAt} (sendense-run retire, run ${retired.runId}): its checkpoints are gone`;
}
