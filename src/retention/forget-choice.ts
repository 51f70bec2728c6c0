// What `sendense-run forget` does with each point it is asked to forget, decided on the records
// alone so --dry-run shows exactly what forget would do (docs/how-it-works.md#forget). Points go
// newest first: each is merged into the first point after it that stays (the crash-safe merge of
// retention), or removed when nothing stays on it. Any refusal refuses the whole request.

import type { Backup } from '../store/index.js';
import type { PointDecision } from './prune-choice.js';

export interface ForgetChoice {
  /** In the order they are carried out; empty when refused. */
  readonly decisions: readonly PointDecision[];
  /** Why a point cannot be forgotten, one line each; any refusal: nothing is done. */
  readonly refusals: readonly string[];
}

// `backups`: one VM in one repository, oldest first; `targets`: ids among them.
export function chooseForget(backups: readonly Backup[], targets: ReadonlySet<string>): ForgetChoice {
  const refusals: string[] = [];
  const decisions: PointDecision[] = [];
  const byParent = (id: string) => backups.filter((other) => other.parentId === id);
  // The first point after `backup` that stays: what it is merged into.
  const staying = (backup: Backup): Backup | undefined => {
    const child = byParent(backup.id).find((other) => other.status !== 'failed');
    if (child === undefined || !targets.has(child.id)) return child;
    return staying(child);
  };
  for (const backup of [...backups].reverse()) {
    if (!targets.has(backup.id)) continue;
    const refusal = whyNot(backup, staying(backup));
    if (refusal !== undefined) refusals.push(`${backup.id}: ${refusal}`);
    else {
      const into = staying(backup);
      decisions.push(
        into === undefined
          ? { backup, action: 'delete' }
          : { backup, action: 'merge', into: into.id, becomesFull: backup.type === 'full' },
      );
    }
  }
  return refusals.length > 0 ? { decisions: [], refusals } : { decisions, refusals };
}

function whyNot(backup: Backup, into: Backup | undefined): string | undefined {
  if (backup.protected) return `protected; sendense-run unprotect ${backup.vm} --point ${backup.id} first`;
  if (backup.heldBy !== null)
    return `a clean point kept for suspect point ${backup.heldBy}; sendense-run clear ${backup.vm} --point ${backup.heldBy} first`;
  if (into === undefined) return undefined;
  if (into.status === 'running') return `backup ${into.id} is running on it (left by a crash? sendense-run doctor)`;
  if (backup.status === 'damaged' || backup.status === 'failed') {
    if (into.status === 'damaged') return `damaged point ${into.id} is built on it: forget them together (--damaged)`;
    return `it is ${backup.status} and complete point ${into.id} reads through it, so merging would carry the damage into ${into.id}: run sendense-run verify --vm ${backup.vm} (it marks ${into.id} damaged if it is), or forget ${into.id} as well`;
  }
  if (into.status === 'damaged') return `the point built on it, ${into.id}, is damaged: forget that first (--damaged)`;
  if (into.heldBy !== null)
    return `the point it would be merged into, ${into.id}, is a clean point kept for suspect point ${into.heldBy} (a merge rewrites its file)`;
  if (into.protected)
    return `the point it would be merged into, ${into.id}, is protected (a merge rewrites its file): unprotect ${into.id} first`;
  const sizeChanged = into.disks.find(
    (disk) => disk.virtualSize !== backup.disks.find((d) => d.diskKey === disk.diskKey)?.virtualSize,
  );
  if (sizeChanged !== undefined)
    return `disk ${sizeChanged.diskKey} changed size in ${into.id}: it cannot be merged into it`;
  return undefined;
}
