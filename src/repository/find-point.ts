// Which complete backup a point names (latest, a backup id, or the newest complete backup at or
// before a time) and its disks' files, the whole chain checked: what restores, `serve` and
// recover plans read (docs/plan-reference.md, restore.point).

import { SendenseError } from '../errors.js';
import type { DiskKey, RestorePoint } from '../plan/types.js';
import { refuseUnfinishedMerge } from '../retention/unfinished-merge.js';
import type { Backup, Store } from '../store/index.js';
import { chainFileProblem, describeChainFileProblem } from './chain-files.js';
import { exportName } from './layout.js';

export interface PointRequest {
  readonly vm: string;
  readonly point: RestorePoint;
  /** Undefined: every disk of the backup. */
  readonly disks?: readonly DiskKey[];
  /** Only backups kept there; undefined: any repository. */
  readonly repository?: string;
  /** Who reads (the step or command named in the refusal of an unfinished merge). */
  readonly reader: string;
  /** The step other errors name, if a step reads. */
  readonly step?: string;
}

/** One disk of a point: its file in the repository (read through its backing chain) and its NBD export name. */
export interface PointDisk {
  readonly key: DiskKey;
  readonly file: string;
  readonly virtualSize: number;
  readonly exportName: string;
}

// The backup and its disks; `chosen` hears the backup before a disk is refused, so a run's end can name it.
export async function findPoint(
  store: Store,
  request: PointRequest,
  chosen?: (backup: Backup) => void,
): Promise<{ backup: Backup; disks: PointDisk[] }> {
  const fail = (message: string): never => {
    throw new SendenseError(message, { step: request.step });
  };
  // Never read through a merge: one recorded for this VM is going on or waits for doctor.
  await refuseUnfinishedMerge(store, request.vm, request.reader);
  const backup = await findCompleteBackup(store, request);
  const chain = await store.chainOf(backup.id);
  for (const link of chain) {
    if (link.status !== 'complete')
      fail(`backup ${link.id} in the chain of ${backup.id} is ${link.status}, not complete`);
  }
  const problem = chainFileProblem(chain, request.disks, { read: true });
  if (problem !== undefined) fail(describeChainFileProblem(problem));
  chosen?.(backup);
  const wanted = request.disks ?? backup.disks.map((disk) => disk.diskKey);
  const disks = wanted.map((key) => {
    const disk = backup.disks.find((candidate) => candidate.diskKey === key);
    if (disk === undefined)
      return fail(`backup ${backup.id} has no disk ${key} (it has ${backup.disks.map((d) => d.diskKey).join(', ')})`);
    return { key, file: disk.file, virtualSize: disk.virtualSize, exportName: exportName(request.vm, key) };
  });
  return { backup, disks };
}

// The complete backup alone (its chain unchecked): the point's first step.
export async function findCompleteBackup(
  store: Store,
  { vm, point, repository, step }: Omit<PointRequest, 'disks'>,
): Promise<Backup> {
  const fail = (message: string): never => {
    throw new SendenseError(message, { step });
  };
  // A point that names nothing: a command's (serve, files) user error, exit 2 (docs/commands.md); a run's failure.
  const noSuch = (message: string): never => {
    throw new SendenseError(message, { step, ...(step === undefined && { exitCode: 2 }) });
  };
  if (point.type === 'id') {
    const backup = await store.getBackup(point.id);
    if (backup === undefined || backup.vm !== vm)
      return noSuch(`there is no backup '${point.id}' of VM ${vm} (see sendense-run backups --vm ${vm})`);
    if (backup.status !== 'complete')
      return fail(`backup ${point.id} is ${backup.status}, not complete: it cannot be read`);
    return backup;
  }
  const backup =
    point.type === 'last-clean'
      ? lastClean(await store.listBackups({ vm }), repository)
      : point.type === 'latest'
        ? await store.latestCompleteBackup(vm, repository)
        : await store.completeBackupAtOrBefore(vm, point.time, repository);
  if (backup !== undefined) return backup;
  const where = repository === undefined ? '' : ` in ${repository}`;
  if (point.type === 'time') {
    const first = (await store.listBackups({ vm })).find(
      (b) => b.status === 'complete' && (repository === undefined || b.repository === repository),
    );
    if (first)
      return noSuch(
        `there is no complete backup of VM ${vm} at or before ${point.time.toISOString()}: the first is ${first.id} at ${first.startedAt}`,
      );
  }
  return noSuch(`there is no complete backup of VM ${vm}${where} (see sendense-run backups --vm ${vm})`);
}

// The newest complete point before the oldest suspect point not cleared (all of them when there is
// none), itself neither suspect nor after one (docs/anomaly.md#restoring-the-last-clean-point).
function lastClean(backups: readonly Backup[], repository: string | undefined): Backup | undefined {
  const here = backups.filter((b) => repository === undefined || b.repository === repository);
  const firstSuspect = here.findIndex((b) => b.suspect !== null && b.suspectClearedBy === null);
  const before = firstSuspect === -1 ? here : here.slice(0, firstSuspect);
  return before.filter((b) => b.status === 'complete').at(-1);
}

// "latest", "last-clean", the backup id, or the time, as messages say it.
export function describePoint(point: RestorePoint): string {
  return point.type === 'latest' || point.type === 'last-clean'
    ? point.type
    : point.type === 'id'
      ? point.id
      : point.time.toISOString();
}
