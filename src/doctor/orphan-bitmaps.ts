// Bitmaps this state database added on sources of this host that no chain will start from: not
// the change_id of the newest complete (or damaged) backup of its plan in its repository, not of a run still going. A
// crash between "complete" and removing the superseded bitmap, or a failed run's cleanup that
// never ran, leaves them recording every write of the VM for nothing.

import { existsSync } from 'node:fs';
import { bitmapRemove, listBitmaps } from '../qemu/index.js';
import type { Backup } from '../store/index.js';
import type { Sweeper } from './sweeper.js';

export const orphanBitmapsSweeper: Sweeper = {
  name: 'orphan bitmaps',
  tables: [],
  async sweep({ store, local, isLive, act }) {
    const exec = (argv: readonly string[]) => local.exec(argv);
    const backups = await store.listBackups();
    const newest = new Map<string, Backup>();
    // A damaged newest point's bitmap is normal until the next run supersedes it (docs/how-it-works.md#damaged-points).
    for (const backup of backups)
      if (backup.status === 'complete' || backup.status === 'damaged')
        newest.set(`${backup.vm}\0${backup.repository}\0${backup.plan}`, backup);
    const needed = new Set<string>();
    const recorded = new Map<string, Set<string>>();
    for (const backup of newest.values())
      for (const disk of backup.disks) if (disk.changeId) needed.add(`${disk.source}\0${disk.changeId}`);
    for (const backup of backups) {
      for (const disk of backup.disks) {
        if (disk.bitmap === null || disk.sourceNode !== local.id) continue;
        if (await isLive(backup.runId)) needed.add(`${disk.source}\0${disk.bitmap}`);
        recorded.set(disk.source, (recorded.get(disk.source) ?? new Set()).add(disk.bitmap));
      }
    }
    for (const [source, names] of recorded) {
      if (!existsSync(source)) continue;
      // A source in use (its VM running) cannot be read or changed now: leave it for the next doctor.
      const present = await listBitmaps(source, exec).catch(() => []);
      for (const bitmap of present) {
        if (!names.has(bitmap.name) || needed.has(`${source}\0${bitmap.name}`)) continue;
        await act(`orphan bitmap ${bitmap.name} on ${source}`, 'remove it', () =>
          bitmapRemove(source, bitmap.name, exec),
        );
      }
    }
  },
};
