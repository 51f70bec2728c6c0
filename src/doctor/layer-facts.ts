// Recorded layer facts (026-layer-facts) that no longer say what the file says: a file gone or put
// back, a header destroyed, a file replaced. Listings show what is recorded
// (docs/how-it-works.md#what-a-listing-reads): doctor records what each file says now. Nothing
// that deletes data reads these facts; retention, forget and restore read the files themselves.

import { encryptedDirectories, readLayerFacts } from '../repository/layer-facts.js';
import type { LayerFacts } from '../store/index.js';
import type { Sweeper } from './sweeper.js';

const FIELDS = ['onDiskBytes', 'encrypted', 'backing', 'headerProblem'] as const;

export const layerFactsSweeper: Sweeper = {
  name: 'layer facts',
  tables: [],
  async sweep({ store, act }) {
    const { backups, facts } = await store.listBackupsWithFacts();
    const recorded = new Map(facts.map((layer) => [`${layer.backupId}/${layer.diskKey}`, layer]));
    const encryptedIn = encryptedDirectories();
    // A merge's files are changing (interrupted merges were finished before this sweeper): it records them as it ends.
    const merging = new Set((await store.listMerges()).flatMap((merge) => [merge.parentId, merge.childId]));
    for (const backup of backups) {
      if (backup.status === 'running' || merging.has(backup.id)) continue;
      for (const disk of backup.disks) {
        const was = recorded.get(`${backup.id}/${disk.diskKey}`);
        if (was === undefined) continue;
        const now = readLayerFacts(disk.file, encryptedIn);
        const differ = FIELDS.filter((field) => was[field] !== now[field]);
        if (differ.length === 0) continue;
        await act(
          `backup ${backup.id} disk ${disk.diskKey}: recorded ${said(was, differ)}, but its file ${disk.file} says ${said(now, differ)}`,
          'record what the file says',
          () => store.recordLayerFacts([{ backupId: backup.id, diskKey: disk.diskKey, ...now }]),
        );
      }
    }
  },
};

function said(facts: LayerFacts, fields: readonly (typeof FIELDS)[number][]): string {
  return fields.map((field) => `${field} ${JSON.stringify(facts[field])}`).join(', ');
}
