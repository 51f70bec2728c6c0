// Whether a new incremental is far outside its VM's own history (docs/anomaly.md#when-a-point-is-suspect):
// both its changed bytes and the share of its sampled changed blocks that do not compress,
// against the medians of the VM's latest incrementals that are not suspect (their figures are
// recorded apart from the points, so retention merging them away does not shorten the history).

import { formatBytes } from '../format/bytes.js';
import type { AnomalySettings } from '../plan/types.js';
import type { Backup } from '../store/index.js';

export const ANOMALY_DEFAULTS: AnomalySettings = Object.freeze({
  enabled: true,
  history: 30,
  learn: 8,
  changedFactor: 4,
  incompressibleShare: 0.5,
  incompressibleRise: 0.3,
  keepClean: 3,
});

// Below this, a VM's usual change counts as this much: a VM that changes almost nothing would
// otherwise be suspect at every larger day.
const CHANGED_FLOOR = 1024 * 1024;

/** A point's figures, its disks added up. */
export interface PointFigures {
  readonly changedBytes: number;
  readonly sampledBlocks: number;
  readonly incompressibleBlocks: number;
}

export type Verdict =
  | { readonly kind: 'off' }
  /** Not enough history yet: `have` of `need` incrementals with figures. */
  | { readonly kind: 'learning'; readonly have: number; readonly need: number }
  | { readonly kind: 'clean' }
  | { readonly kind: 'suspect'; readonly reasons: string };

// Undefined when a disk has no sample (the VMware client, points taken before it was measured).
export function figuresOf(backup: Backup): PointFigures | undefined {
  if (backup.disks.some((disk) => disk.sample === null)) return undefined;
  return {
    changedBytes: backup.disks.reduce((sum, disk) => sum + (disk.bytes ?? 0), 0),
    sampledBlocks: backup.disks.reduce((sum, disk) => sum + disk.sample!.sampledBlocks, 0),
    incompressibleBlocks: backup.disks.reduce((sum, disk) => sum + disk.sample!.incompressibleBlocks, 0),
  };
}

function share(figures: PointFigures): number {
  return figures.sampledBlocks === 0 ? 0 : figures.incompressibleBlocks / figures.sampledBlocks;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function judgePoint(
  figures: PointFigures | undefined,
  history: readonly PointFigures[],
  settings: AnomalySettings,
): Verdict {
  if (!settings.enabled || figures === undefined) return { kind: 'off' };
  if (history.length < settings.learn) return { kind: 'learning', have: history.length, need: settings.learn };
  const usualChanged = median(history.map((past) => past.changedBytes));
  const usualShare = median(history.map(share));
  const factor = figures.changedBytes / Math.max(usualChanged, CHANGED_FLOOR);
  const now = share(figures);
  const changedFar = factor >= settings.changedFactor;
  const randomFar = now >= settings.incompressibleShare && now - usualShare >= settings.incompressibleRise;
  if (!changedFar || !randomFar) return { kind: 'clean' };
  const percent = (value: number) => `${Math.round(value * 100)}%`;
  return {
    kind: 'suspect',
    reasons:
      `changed ${factor.toFixed(1)}x the median of the last ${history.length} (${formatBytes(figures.changedBytes)}, usually ${formatBytes(usualChanged)}); ` +
      `${percent(now)} of sampled changed blocks incompressible (${figures.incompressibleBlocks} of ${figures.sampledBlocks}), usually ${percent(usualShare)}`,
  };
}

/** The clean points a suspect one keeps: the last `keepClean` complete points before it that are not suspect. */
export function cleanPointsBefore(points: readonly Backup[], point: Backup, keepClean: number): string[] {
  return earlier(points, point)
    .filter(counts)
    .slice(-keepClean)
    .map((other) => other.id);
}

// The points listed before this one (`points` oldest first, as the store lists them).
function earlier(points: readonly Backup[], point: Backup): readonly Backup[] {
  const at = points.findIndex((other) => other.id === point.id);
  return at === -1 ? points : points.slice(0, at);
}

// A complete point that is not suspect, or whose mark an operator cleared (a false alarm is ordinary).
function counts(point: Backup): boolean {
  return point.status === 'complete' && (point.suspect === null || point.suspectClearedBy !== null);
}
