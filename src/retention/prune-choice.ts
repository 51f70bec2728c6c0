// What retention by points does with each point of one VM in one repository, decided on the
// records alone (no file touched), so `prune --dry-run` shows exactly what a prune would do.

import type { Backup, BackupDisk } from '../store/index.js';
import { markPoints, type KeepRules } from './keep-rules.js';

export type PointAction =
  /** Kept by the rules, or left alone for `reason`. */
  | { readonly action: 'keep'; readonly keptBy: readonly string[]; readonly reason?: string }
  /** Folded into the next point of its chain, which keeps exactly its content. */
  | { readonly action: 'merge'; readonly into: string; readonly becomesFull: boolean }
  /** The newest point of an older chain: nothing stands on it, its files go. */
  | { readonly action: 'delete' };

/** What the decisions read of a point: the hub's records, or a copy's manifests (docs/copies.md#retention). */
export interface PrunablePoint extends Pick<Backup, 'id' | 'type' | 'parentId' | 'status' | 'startedAt'> {
  /** Protected by the operator (docs/how-it-works.md#protected-points): never merged, removed or merged into. */
  readonly protected?: boolean;
  /** The suspect point that keeps it as a clean point before it (docs/anomaly.md#what-a-suspect-point-does): as protected. */
  readonly heldBy?: string | null;
  /** The plan that made it: a plan's rules apply to its own points only (docs/how-it-works.md#plans-that-share-a-vm). */
  readonly plan?: string;
  readonly disks: readonly Pick<BackupDisk, 'diskKey' | 'virtualSize'>[];
}

export type PointDecision<P extends PrunablePoint = Backup> = PointAction & { readonly backup: P };

// `backups`: one VM in one repository, oldest first, every plan's. Only complete, undamaged backups are points;
// a damaged one is listed as left alone (`forget --damaged` removes it, docs/how-it-works.md#forget).
// `owner`: only that plan's points are decided on; another plan's are never merged, removed or merged into.
export function choosePrune<P extends PrunablePoint>(
  backups: readonly P[],
  rules: KeepRules,
  timeZone?: string,
  owner?: string,
): readonly PointDecision<P>[] {
  const own = (backup: P) => owner === undefined || backup.plan === owner;
  const points = backups.filter((backup) => backup.status === 'complete' && own(backup));
  const listed = backups.filter(
    (backup) => (backup.status === 'complete' || backup.status === 'damaged') && own(backup),
  );
  const verdicts = new Map(
    markPoints(
      points.map((backup) => ({ id: backup.id, takenAt: backup.startedAt })),
      rules,
      timeZone,
    ).map((v) => [v.id, v.keptBy]),
  );
  return listed.map((backup): PointDecision<P> => {
    if (backup.status === 'damaged') return { backup, action: 'keep', keptBy: [], reason: DAMAGED_REASON };
    const keptBy = verdicts.get(backup.id)!;
    if (backup.protected === true) return { backup, action: 'keep', keptBy, reason: 'protected' };
    if (typeof backup.heldBy === 'string') return { backup, action: 'keep', keptBy, reason: heldReason(backup.heldBy) };
    if (keptBy.length > 0) return { backup, action: 'keep', keptBy };
    const standing = backups.filter((other) => other.parentId === backup.id);
    const running = standing.find((other) => other.status === 'running');
    if (running !== undefined)
      return { backup, action: 'keep', keptBy, reason: `backup ${running.id} is still running on it` };
    const child = standing.find((other) => other.status === 'complete' || other.status === 'damaged');
    if (child === undefined) return { backup, action: 'delete' };
    if (!own(child))
      return { backup, action: 'keep', keptBy, reason: `the next point ${child.id} belongs to plan ${child.plan}` };
    if (child.status === 'damaged')
      return {
        backup,
        action: 'keep',
        keptBy,
        reason: `the next point ${child.id} is damaged; forget --damaged removes it`,
      };
    if (child.protected === true)
      return {
        backup,
        action: 'keep',
        keptBy,
        reason: `the next point ${child.id} is protected: a merge would rewrite its file`,
      };
    if (typeof child.heldBy === 'string')
      return {
        backup,
        action: 'keep',
        keptBy,
        reason: `the next point ${child.id} is a clean point kept for suspect point ${child.heldBy}: a merge would rewrite its file`,
      };
    const sizeChanged = child.disks.find(
      (disk) => disk.virtualSize !== backup.disks.find((d) => d.diskKey === disk.diskKey)?.virtualSize,
    );
    if (sizeChanged !== undefined)
      return {
        backup,
        action: 'keep',
        keptBy,
        reason: `disk ${sizeChanged.diskKey} changed size in ${child.id}: not merged`,
      };
    return { backup, action: 'merge', into: child.id, becomesFull: backup.type === 'full' };
  });
}

/** Why a clean point before a suspect one stays (docs/anomaly.md#what-a-suspect-point-does). */
export function heldReason(suspect: string): string {
  return `a clean point kept for suspect point ${suspect} (sendense-run clear releases it)`;
}

const DAMAGED_REASON = 'damaged: not a restore point, never merged; forget --damaged removes it';

// One line per point for the dry run and the run's log.
export function describeDecision(decision: PointDecision<PrunablePoint>): string {
  const { backup } = decision;
  const head = `${backup.id} (${backup.type}, ${backup.startedAt})`;
  if (decision.action === 'merge')
    return `${head}: merge into ${decision.into}${decision.becomesFull ? ` (${decision.into} becomes the full)` : ''}`;
  if (decision.action === 'delete') return `${head}: remove (newest of an older chain, nothing stands on it)`;
  if (decision.reason !== undefined) return `${head}: keep (${decision.reason})`;
  return `${head}: keep (${decision.keptBy.join(', ')})`;
}
