// doctor's part for retention merges: a merge whose run is gone is finished (files already being
// changed) or rolled back (none touched yet), under a run of its own that records its qemu-nbd.

import type { Store } from '../store/index.js';
import { resumeMerge } from './merge-point.js';

type Act = (what: string, action: string, work: () => Promise<unknown>) => Promise<unknown>;

export async function resumeInterruptedMerges(store: Store, isLive: (runId: string) => Promise<boolean>, act: Act): Promise<void> {
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
}
