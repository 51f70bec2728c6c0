// Backups that never completed: their files go (and the disk's and VM's directories when empty),
// their records stay, as failed. A remote node's bitmap is named with the command to remove it there.

import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { manifestPath } from '../repository/manifest.js';
import { manifestTemps } from '../repository/manifest-file.js';
import { removeEmptyDirs, requireRealPointDirs } from '../repository/private-dirs.js';
import type { Sweeper } from './sweeper.js';

export const unfinishedBackupsSweeper: Sweeper = {
  name: 'unfinished backups',
  tables: ['backups', 'backup_disks'],
  async sweep({ store, local, deadRuns, isLive, act, report }) {
    for (const backup of await store.incompleteBackups()) {
      if (await isLive(backup.runId)) continue;
      // Completed since it was read (its run finished meanwhile): its files are a backup now.
      if ((await store.getBackup(backup.id))?.status === 'complete') continue;
      // Nothing outside the repository through a symlink in place of one of its folders (docs/threat-model.md).
      const realDirs = await requireRealPointDirs(backup).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      // Such a run may never have made a file (the check refused it first): said as such, and what to do.
      if (realDirs !== undefined)
        report(
          `files of backup ${backup.id} (${backup.status}), if it made any`,
          `not looked for: ${realDirs.message}; remove that symlink (sendense-run makes none), then run doctor again`,
          false,
        );
      for (const disk of realDirs === undefined ? backup.disks : []) {
        if (!existsSync(disk.file)) {
          for (const temp of await manifestTemps(manifestPath(disk.file))) {
            await act(`unfinished manifest ${temp} (backup ${backup.id}, ${backup.status})`, 'delete it', () =>
              rm(temp, { force: true }),
            );
          }
        }
        if (existsSync(disk.file)) {
          await act(`half-written file ${disk.file} (backup ${backup.id}, ${backup.status})`, 'delete it', async () => {
            await rm(disk.file, { force: true });
            await rm(manifestPath(disk.file), { force: true });
            for (const temp of await manifestTemps(manifestPath(disk.file))) await rm(temp, { force: true });
            await removeEmptyDirs([path.dirname(disk.file), path.dirname(path.dirname(disk.file))]);
          });
        }
        // A remote node's bitmaps are not reachable from here: say what to do when its run died.
        if (disk.bitmap !== null && disk.sourceNode !== local.id && deadRuns.has(backup.runId)) {
          report(
            `bitmap ${disk.bitmap} on ${disk.source} at ${disk.sourceNode} (backup ${backup.id})`,
            `left alone (remote node): remove it there with qemu-img bitmap --remove ${disk.source} ${disk.bitmap}`,
          );
        }
      }
      if (backup.status === 'running')
        await act(`backup ${backup.id} left running`, 'mark it failed', () => store.failBackup(backup.id));
    }
  },
};
