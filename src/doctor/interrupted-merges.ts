// Retention merges whose run is gone: finished (files already being changed) or rolled back (none
// touched yet), under a run of doctor's own that records its qemu-nbd (docs/how-it-works.md, "Retention").
// One of an encrypted repository that no key given opens is left as it is, said (exit 1): finishing
// it needs the files read, and the VM stays refused until `doctor --key-file` finishes it.
// Runs after the processes sweeper: the dead run's qemu-nbd is stopped by then.

import { mergeKeyProblem, resumeMerge } from '../retention/merge-point.js';
import type { Sweeper } from './sweeper.js';

export const interruptedMergesSweeper: Sweeper = {
  name: 'interrupted merges',
  tables: ['merges'],
  async sweep({ store, isLive, act, report }) {
    let doctorRun: string | undefined;
    for (const merge of await store.listMerges()) {
      if (await isLive(merge.runId)) continue;
      const what = `interrupted merge of backup ${merge.parentId} into ${merge.childId} (VM ${merge.vm}, run ${merge.runId})`;
      // A roll back only removes the merged manifests written beside: no key needed.
      const needsKey = merge.phase === 'planned' ? undefined : await mergeKeyProblem(store, merge);
      if (needsKey !== undefined) {
        report(what, `left for later: ${needsKey}`, false);
        continue;
      }
      const action = merge.phase === 'planned' ? 'roll it back (no file was changed yet)' : 'finish it';
      await act(what, action, async () => {
        doctorRun ??= (await store.createRun({ plan: 'doctor', kind: 'prune', trigger: 'manual' })).id;
        await resumeMerge(store, doctorRun, merge);
      });
    }
    if (doctorRun !== undefined) await store.finishRun(doctorRun, 'succeeded');
  },
};
