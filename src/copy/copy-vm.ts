// The points of one VM the copy lacks, sent oldest first (docs/copies.md#what-is-sent), so each
// point's parent is on the copy before it. The caller holds the VM's lock and found no merge of it
// unfinished: no backup or merge changes the hub's files meanwhile. A point the copy has complete is never sent again, whatever
// the hub made of it since (a merge may have turned it into a full there: both are that point).

import type { Backup, Store } from '../store/index.js';
import { copyPoint, type PointContext } from './copy-point.js';

export interface VmCopied {
  readonly vm: string;
  /** Points sent (or finished) by this run. */
  readonly pointsSent: number;
  /** Complete points the copy had already. */
  readonly pointsThere: number;
  readonly filesSent: number;
  readonly filesKept: number;
  readonly bytes: number;
  /** Points the copy lacks that were not sent, and why. */
  readonly notSent: readonly { readonly id: string; readonly why: string }[];
}

// `pruned`: the points the copy merged away by its own retention (docs/copies.md#retention): never sent again.
export async function copyVm(
  context: PointContext & { readonly store: Store },
  vm: string,
  onPoint: (id: string) => void,
  pruned: ReadonlyMap<string, string | undefined> = new Map(),
): Promise<VmCopied> {
  const { store, target } = context;
  const backups = parentsFirst(
    (await store.listBackups({ vm })).filter((backup) => backup.repository === context.repository),
  );
  const copy = await target.list(vm);
  const present = new Set([...copy.keys()].filter((file) => /^disk-\d+\/[^/]+\.json$/.test(file)));
  const outcome = {
    vm,
    pointsSent: 0,
    pointsThere: 0,
    filesSent: 0,
    filesKept: 0,
    bytes: 0,
    notSent: [] as { id: string; why: string }[],
  };
  for (const backup of backups) {
    if (backup.status === 'damaged') {
      outcome.notSent.push({
        id: backup.id,
        why: `damaged on the hub (${backup.damage ?? 'verify found it differs'})`,
      });
      continue;
    }
    if (backup.status !== 'complete' || pruned.has(backup.id)) continue;
    if (backup.disks.every((disk) => present.has(`disk-${disk.diskKey}/${backup.id}.json`))) {
      outcome.pointsThere++;
      continue;
    }
    context.signal?.throwIfAborted();
    onPoint(backup.id);
    const result = await copyPoint(context, backup, copy, present);
    if ('notSent' in result) {
      outcome.notSent.push({ id: backup.id, why: result.notSent });
      continue;
    }
    outcome.pointsSent++;
    outcome.filesSent += result.sent.filesSent;
    outcome.filesKept += result.sent.filesKept;
    outcome.bytes += result.sent.bytes;
  }
  return outcome;
}

// A parent before what stands on it; otherwise in the order the hub recorded them.
function parentsFirst(backups: readonly Backup[]): Backup[] {
  const byId = new Map(backups.map((backup) => [backup.id, backup]));
  const ordered: Backup[] = [];
  const placed = new Set<string>();
  const place = (backup: Backup, seen: Set<string>): void => {
    if (placed.has(backup.id) || seen.has(backup.id)) return;
    seen.add(backup.id);
    const parent = backup.parentId === null ? undefined : byId.get(backup.parentId);
    if (parent !== undefined) place(parent, seen);
    placed.add(backup.id);
    ordered.push(backup);
  };
  for (const backup of backups) place(backup, new Set());
  return ordered;
}
