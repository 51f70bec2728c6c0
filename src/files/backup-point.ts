// Which backup file a file-level restore reads: the point (latest, a backup id, or the newest
// complete backup at or before a time — as restore plans choose it) and the disk (default the first).

import { SendenseError, usageError } from '../errors.js';
import { parseRestorePoint } from '../plan/restore-point.js';
import type { DiskKey, RestorePoint } from '../plan/types.js';
import type { Backup, BackupDisk, Store } from '../store/index.js';
import { chainFileProblem, describeChainFileProblem } from '../repository/chain-files.js';
import { refuseUnfinishedMerge } from '../retention/unfinished-merge.js';
import { findCompleteBackup } from '../repository/find-point.js';

export interface PointFile {
  readonly backup: Backup;
  readonly disk: BackupDisk;
  /** "VM pgtest1, backup 2026…, disk 2000", for messages. */
  readonly where: string;
}

export function parsePointOption(text: string | undefined): RestorePoint {
  if (text === undefined) return { type: 'latest' };
  const point = parseRestorePoint(text);
  if (typeof point === 'string') throw usageError(`--point: ${point}`);
  return point;
}

export function parseDiskOption(text: string | undefined): DiskKey | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw usageError(`--disk: must be a disk key like 2000 (got '${text}')`);
  return Number(text);
}

export async function findPointFile(
  store: Store,
  vm: string,
  point: RestorePoint,
  diskKey?: DiskKey,
  repository?: string,
): Promise<PointFile> {
  // Never read through a merge: one recorded for this VM is going on or waits for doctor.
  await refuseUnfinishedMerge(store, vm, 'files');
  const backup = await findCompleteBackup(store, { vm, point, repository, reader: 'files' });
  const disk =
    diskKey === undefined ? backup.disks[0] : backup.disks.find((candidate) => candidate.diskKey === diskKey);
  if (disk === undefined) {
    throw new SendenseError(
      `backup ${backup.id} of VM ${vm} has no disk ${diskKey} (it has ${backup.disks.map((d) => d.diskKey).join(', ')})`,
    );
  }
  const chain = await store.chainOf(backup.id);
  for (const link of chain) {
    if (link.status !== 'complete')
      throw new SendenseError(`backup ${link.id} in the chain of ${backup.id} is ${link.status}, not complete`);
    if (!link.disks.some((candidate) => candidate.diskKey === disk.diskKey)) {
      throw new SendenseError(
        `the file of backup ${link.id} for disk ${disk.diskKey} is missing or unreadable: (none recorded)`,
      );
    }
  }
  const problem = chainFileProblem(chain, [disk.diskKey], { read: true });
  if (problem !== undefined) throw new SendenseError(describeChainFileProblem(problem));
  return { backup, disk, where: `VM ${vm}, backup ${backup.id}, disk ${disk.diskKey}` };
}
