// One VM's points in one repository, summed up for `status` and the metrics file
// (docs/operations.md#monitoring): how many, the oldest and newest, the newest's chain, the
// damaged ones, the last verify, and the space its folder takes.

import path from 'node:path';
import type { Backup } from '../store/index.js';
import { directoryDiskUsage, fileDiskUsage } from './disk-usage.js';

export interface VmPoints {
  readonly repository: string;
  readonly vm: string;
  /** Space `<repository>/<vm>` takes on disk (as du counts it); null when it is not there. */
  readonly bytes: number | null;
  /** Complete points, not damaged (those a restore can use). */
  readonly points: number;
  /** Complete points verify or a run found damaged. */
  readonly damaged: number;
  /** Points marked suspect and not cleared yet (docs/anomaly.md#what-a-suspect-point-does). */
  readonly suspect: number;
  readonly oldest: Backup | undefined;
  readonly newest: Backup | undefined;
  /** Points in the newest point's chain; 0 without a point. */
  readonly chainLength: number;
  /** When verify last checked one of these points (ISO-8601 UTC); null: never. */
  readonly lastVerifiedAt: string | null;
  /** False when a point verify checked is damaged; null when none was checked. */
  readonly verifiedSound: boolean | null;
}

// From every backup record of the VM (any repository, any status), in the order they were taken
// (store.listBackups): newest is the one taken last, not the latest stamp, which a clock set back
// puts out of order (docs/how-it-works.md#when-the-hubs-clock-jumps).
export function summarizeVmPoints(backups: readonly Backup[], repository: string, vm: string): VmPoints {
  const here = backups.filter((backup) => backup.vm === vm && backup.repository === repository);
  const points = here.filter((backup) => backup.status === 'complete');
  const damaged = here.filter((backup) => backup.status === 'damaged');
  const newest = points.at(-1);
  const verified = [...points, ...damaged].filter((backup) => backup.verifiedAt !== null);
  const lastVerifiedAt = verified.reduce<string | null>(
    (last, backup) => (last === null || backup.verifiedAt! > last ? backup.verifiedAt : last),
    null,
  );
  return {
    repository,
    vm,
    bytes: folderDiskUsage(path.join(repository, vm)),
    points: points.length,
    damaged: damaged.length,
    suspect: here.filter((backup) => backup.suspect !== null && backup.suspectClearedBy === null).length,
    oldest: points[0],
    newest,
    chainLength: newest === undefined ? 0 : points.filter((backup) => backup.chainId === newest.chainId).length,
    lastVerifiedAt,
    verifiedSound: verified.length === 0 ? null : verified.every((backup) => backup.status === 'complete'),
  };
}

// The VMs a plan's repository metrics cover: its own, or for `vm: all` (verify, copy) every VM
// with a record in the repository.
export function vmsInRepository(backups: readonly Backup[], repository: string): string[] {
  return [...new Set(backups.filter((backup) => backup.repository === repository).map((backup) => backup.vm))].sort();
}

// As `du -s` counts it: the folder's own blocks too.
function folderDiskUsage(dir: string): number | null {
  const inside = directoryDiskUsage(dir);
  return inside === null ? null : inside + (fileDiskUsage(dir) ?? 0);
}
