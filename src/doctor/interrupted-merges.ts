// Retention merges whose run is gone: finished (files already being changed) or rolled back (none
// touched yet), under a run of doctor's own that records its qemu-nbd (docs/how-it-works.md, "Retention").
// Runs after the processes sweeper: the dead run's qemu-nbd is stopped by then.

import { resumeMerge } from '../retention/merge-point.js';
import type { Sweeper } from './sweeper.js';

export const interruptedMergesSweeper: Sweeper = {
  name: 'interrupted merges',
  tables: ['merges'],
  async sweep({ store, isLive, act }) {
    let doctorRun: string | undefined;
    for (const merge of await store.listMerges()) {
      if (await isLive(merge.runId)) continue;
      const action = merge.phase === 'planned' ? 'roll it back (no file was changed yet)' : 'finish it';
      await act(`interrupted merge of backup ${merge.parentId} into ${merge.childId} (VM ${merge.vm}, run ${merge.runId})`, action, async () => {
        doctorRun ??= (await store.createRun({ plan: 'doctor', kind: 'prune', trigger: 'manual' })).id;
        await resumeMerge(store, doctorRun, merge);
      });
    }
    if (doctorRun !== undefined) await store.finishRun(doctorRun, 'succeeded');
  },
};
