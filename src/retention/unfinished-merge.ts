// A run or restore of a VM never reads through a merge: while one is recorded for the VM (going
// on, or left by a crash until doctor finishes it), they stop with what to do.

import { SendenseError } from '../errors.js';
import type { Store } from '../store/index.js';

export async function refuseUnfinishedMerge(store: Store, vm: string, step: string): Promise<void> {
  const merge = (await store.listMerges({ vm }))[0];
  if (merge === undefined) return;
  const run = await store.getRun(merge.runId);
  const going =
    run?.status === 'running'
      ? `by run ${merge.runId} (pid ${run.pid}), still going: try again when it ends`
      : `by run ${merge.runId}, which ended before it finished: run sendense-run doctor`;
  throw new SendenseError(
    `VM ${vm} has an unfinished merge of backup ${merge.parentId} into ${merge.childId} (since ${merge.since}) ${going}`,
    {
      step,
      exitCode: 1,
    },
  );
}
