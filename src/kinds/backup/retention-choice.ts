// Which chains retention deletes, decided on the records alone (no files touched), so the rule
// can be read and tested in one place.

import type { Backup } from '../../store/index.js';

export interface Chain {
  readonly chainId: string;
  /** Oldest first (insertion order). */
  readonly backups: readonly Backup[];
}

export interface RetentionChoice {
  /** The newest chains with a complete full backup, newest first. */
  readonly kept: readonly Chain[];
  /** Older chains to delete whole, oldest first. */
  readonly delete: readonly Chain[];
  /** Older chains left alone, and why. */
  readonly protected: readonly (Chain & { readonly reason: string })[];
}

// `backups`: one VM in one repository, oldest first (Store.listBackups order).
// `owner`: only chains that plan started count and go (docs/how-it-works.md#plans-that-share-a-vm).
export function chainsToDelete(
  backups: readonly Backup[],
  keepChains: number,
  currentChainId: string,
  owner?: string,
): RetentionChoice {
  const chains = groupChains(backups).filter((chain) => owner === undefined || chain.backups[0]!.plan === owner);
  const counted = chains.filter(hasCompleteFull);
  const kept = counted.slice(-keepChains).reverse();
  if (counted.length <= keepChains) return { kept, delete: [], protected: [] };
  // Everything that started before the oldest kept chain is older; later failed chains stay (doctor cleans them).
  const oldestKept = chains.indexOf(kept[kept.length - 1]);
  const deletable: Chain[] = [];
  const protectedChains: (Chain & { reason: string })[] = [];
  for (const chain of chains.slice(0, oldestKept)) {
    const running = chain.backups.find((backup) => backup.status === 'running');
    const kept = chain.backups.find((backup) => backup.protected || backup.heldBy !== null);
    const other = chain.backups.find((backup) => owner !== undefined && backup.plan !== owner);
    if (chain.chainId === currentChainId) protectedChains.push({ ...chain, reason: 'this run built on it' });
    // docs/how-it-works.md#protected-points
    else if (kept)
      protectedChains.push({
        ...chain,
        reason: kept.protected
          ? `point ${kept.id} is protected`
          : `point ${kept.id} is a clean point kept for suspect point ${kept.heldBy}`,
      });
    else if (other) protectedChains.push({ ...chain, reason: `point ${other.id} of plan ${other.plan} is in it` });
    else if (running)
      protectedChains.push({ ...chain, reason: `backup ${running.id} (run ${running.runId}) is still running on it` });
    else deletable.push(chain);
  }
  return { kept, delete: deletable, protected: protectedChains };
}

function groupChains(backups: readonly Backup[]): Chain[] {
  const byId = new Map<string, Backup[]>();
  for (const backup of backups) {
    const list = byId.get(backup.chainId) ?? [];
    list.push(backup);
    byId.set(backup.chainId, list);
  }
  // Chains in the order their first backup was recorded.
  return [...byId.entries()].map(([chainId, list]) => ({ chainId, backups: list }));
}

function hasCompleteFull(chain: Chain): boolean {
  return chain.backups.some((backup) => backup.type === 'full' && backup.status === 'complete');
}
