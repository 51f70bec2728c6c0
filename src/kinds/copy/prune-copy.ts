// prune-copy: the copy's own retention (docs/copies.md#retention), VM by VM under that VM's lock:
// the points copy.retention does not keep are merged away on the copy, oldest first. Skipped
// without copy.retention: the copy then keeps every point it is sent.

import { pruneCopy, type CopyPruned } from '../../copy/copy-retention.js';
import type { Step } from '../../engine/step.js';
import { plural } from '../../format/plural.js';
import type { CopyRun } from './copy-run.js';
import { mergePlace } from './open-copy.js';
import { takeVm } from './send-points.js';

export const pruneCopyStep: Step<CopyRun> = {
  name: 'prune-copy',
  title: (run) => `keep the points copy.retention keeps on ${run.description}, merge the others away there`,
  skip: (run) => (run.plan.copy.retention === undefined ? 'no copy.retention: the copy keeps every point' : undefined),
  async run(run) {
    const { plan, store } = run;
    const place = mergePlace(run);
    const to = plan.copy.to;
    // validate refuses copy.retention for an s3 copy (docs/copies.md#copies-on-object-storage).
    if (place === undefined || to.type !== 'ssh') throw new Error('prune-copy on a copy without a host to merge on');
    const totals: CopyPruned[] = [];
    for (const { vm } of run.copied) {
      await takeVm(run, vm);
      try {
        const hubDisks = new Map((await store.listBackups({ vm })).filter((backup) => backup.repository === plan.repository.path).map((backup) => [backup.id, backup.disks.length] as const));
        const say = (message: string) => run.reporter.emit({ type: 'info', step: 'prune-copy', message });
        const facts = { plan: plan.name, nodeSpec: to.node };
        totals.push(await pruneCopy(place, { store, runId: run.runId, facts, say, signal: run.signal }, vm, plan.copy.retention!, hubDisks, plan.timezone));
      } finally {
        await store.unlockVm(vm, run.runId);
      }
    }
    const sum = (pick: (pruned: CopyPruned) => number) => totals.reduce((total, pruned) => total + pick(pruned), 0);
    const [merged, removed, kept] = [sum((t) => t.merged), sum((t) => t.removed), sum((t) => t.kept)];
    if (merged + removed === 0) return `nothing to merge; ${plural(kept, 'point')} kept on the copy`;
    return `${plural(merged, 'point')} merged, ${removed} removed, ${plural(kept, 'point')} kept on the copy`;
  },
  would: (run) =>
    run.plan.copy.retention === undefined
      ? 'no copy.retention: the copy keeps every point'
      : `judge the copy's points by copy.retention and merge the unkept ones away there (the copy is not contacted in a dry run)`,
};
