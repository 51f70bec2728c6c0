// Full or incremental: the one decision that must never guess. An incremental is taken only when
// every disk can continue the chain exactly; anything else is a full into a new chain (or a failure
// when the plan says onMissingChain: fail).

import type { DiskSource } from '../engine/run-context.js';
import type { BackupPlan, DiskKey } from '../plan/types.js';
import type { BitmapInfo } from '../qemu/index.js';
import { bitmapName } from '../repository/layout.js';
import type { Backup } from '../store/index.js';

export interface SourceDiskFacts {
  readonly key: DiskKey;
  readonly source: DiskSource;
  readonly virtualSize: number;
  /** Image path on the node (qemu sources). */
  readonly path?: string;
  readonly bitmaps?: readonly BitmapInfo[];
  /** qemu qcow2 sources: false for qcow2 v2 (compat 0.10) images, which have no persistent bitmaps. */
  readonly canStoreBitmaps?: boolean;
  /** nbd sources with a bitmap in the plan: whether the export offers its qemu:dirty-bitmap: context. */
  readonly bitmapOffered?: boolean;
}

export type ChainDecision =
  | { readonly type: 'full'; readonly warning?: string; readonly note?: string }
  | { readonly type: 'incremental' }
  | { readonly type: 'fail'; readonly reason: string };

export function decideChain(
  plan: BackupPlan,
  previous: Backup | undefined,
  chainLength: number,
  facts: readonly SourceDiskFacts[],
  parentFileExists: (file: string) => boolean,
): ChainDecision {
  if (plan.kind === 'backup') return { type: 'full' };
  const { onMissingChain, maxChainLength } = plan.incremental;
  const cannot = (reason: string): ChainDecision =>
    onMissingChain === 'fail'
      ? { type: 'fail', reason: `${reason}, and incremental.onMissingChain is 'fail'` }
      : { type: 'full', warning: `${reason}: taking a full backup into a new chain` };

  if (previous === undefined) {
    return onMissingChain === 'fail'
      ? { type: 'fail', reason: `no complete backup of ${plan.vm.name} in ${plan.repository.path} to build an incremental on, and incremental.onMissingChain is 'fail'` }
      : { type: 'full', note: `no complete backup of ${plan.vm.name} in ${plan.repository.path} yet: taking a full backup` };
  }
  if (chainLength >= maxChainLength) {
    return { type: 'full', note: `chain ${previous.chainId} has ${chainLength} backups (maxChainLength ${maxChainLength}): starting a new chain` };
  }
  for (const fact of facts) {
    const reason = whyNotIncremental(fact, previous, parentFileExists);
    if (reason !== undefined) return cannot(reason);
  }
  return { type: 'incremental' };
}

function whyNotIncremental(
  fact: SourceDiskFacts,
  previous: Backup,
  parentFileExists: (file: string) => boolean,
): string | undefined {
  const parentDisk = previous.disks.find((disk) => disk.diskKey === fact.key);
  if (parentDisk === undefined) return `disk ${fact.key} is not in backup ${previous.id}`;
  // A VMware disk's size is known only once the client reports it.
  if (fact.source.type !== 'vmware' && parentDisk.virtualSize !== fact.virtualSize) {
    return `disk ${fact.key} changed size since backup ${previous.id} (${parentDisk.virtualSize} -> ${fact.virtualSize} bytes)`;
  }
  if (!parentFileExists(parentDisk.file)) return `the file of backup ${previous.id} for disk ${fact.key} is missing or damaged (${parentDisk.file})`;
  const source = fact.source;
  if (source.type === 'qemu') {
    if (source.format === 'raw') {
      return `disk ${fact.key} (${source.path}) is a raw image: raw images have no dirty bitmaps, so only full backups are possible`;
    }
    if (fact.canStoreBitmaps === false) {
      return `disk ${fact.key} (${source.path}) is a qcow2 v2 (compat 0.10) image, which cannot store dirty bitmaps, so only full backups are possible (qemu-img amend -o compat=1.1 upgrades it)`;
    }
    const name = parentDisk.changeId;
    if (!name) return `backup ${previous.id} recorded no change_id for disk ${fact.key}`;
    // Only the bitmap this chain added at that backup says what changed since: another chain's
    // (an edited or mixed-up database) would give an incremental built on a guess.
    if (name !== ownBitmap(previous)) {
      return `backup ${previous.id} records bitmap '${name}' for disk ${fact.key}, not the one its chain added ('${ownBitmap(previous)}')`;
    }
    const bitmap = fact.bitmaps?.find((b) => b.name === name);
    if (bitmap === undefined) return `the dirty bitmap '${name}' of backup ${previous.id} is missing from ${source.path}`;
    if (bitmap.inUse) return `the dirty bitmap '${name}' on ${source.path} is marked inconsistent (the image was not closed cleanly)`;
    // A disabled bitmap stopped recording writes: what it marks dirty is not all that changed.
    if (!bitmap.enabled) return `the dirty bitmap '${name}' on ${source.path} is disabled (it stopped recording writes)`;
    return undefined;
  }
  if (source.type === 'vmware') {
    return parentDisk.changeId ? undefined : `backup ${previous.id} recorded no VMware change id for disk ${fact.key}`;
  }
  if (source.type === 'nbd') {
    if (!source.bitmap) return `disk ${fact.key} (${source.url}) has no dirty bitmap in the plan: nbd sources without one are full only`;
    if (fact.bitmapOffered === false) return `${source.url} does not offer the dirty bitmap '${source.bitmap}' (no qemu:dirty-bitmap:${source.bitmap} context)`;
    // The export's bitmap is never reset by us: it must have been tracking since the parent was read.
    if (parentDisk.changeId !== source.bitmap) {
      const had = parentDisk.changeId ? `was read while bitmap '${parentDisk.changeId}' tracked it` : `recorded no change_id (it was read without bitmap '${source.bitmap}')`;
      return `backup ${previous.id} of disk ${fact.key} ${had}, so '${source.bitmap}' may miss changes since`;
    }
    return undefined;
  }
  return undefined;
}

// The bitmap a qemu backup adds to its disks: named after its chain and itself.
export function ownBitmap(backup: Pick<Backup, 'chainId' | 'id'>): string {
  return bitmapName(backup.chainId, backup.id);
}
