// prune-copy: the copy's own retention (docs/copies.md#retention), VM by VM under that VM's lock:
// the points copy.retention does not keep are merged away on the copy, oldest first. Skipped
// without copy.retention: the copy then keeps every point it is sent.

import { pruneCopy, type CopyPruned } from '../../copy/copy-retention.js';
import type { Step } from '../../engine/step.js';
import { plural } from '../../format/plural.js';
import type { CopyRun } from './copy-run.js';
import { mergePlace } from './open-copy.js';
import { takeVm } from './send-points.js';
import type { Reclaimed } from '../../copy/copy-target.js';
import { formatBytes } from '../../format/bytes.js';
import { lockKeptPoints, locksLonger } from '../../copy/lock-by-rule.js';

// "3 old versions deleted (120 MiB), 2 held by object lock (64 MiB, the first until 2026-12-24)".
function reclaimedLine(all: readonly Reclaimed[]): string {
  const sum = (pick: (one: Reclaimed) => number) => all.reduce((total, one) => total + pick(one), 0);
  const until = all
    .flatMap((one) => (one.heldUntil === undefined ? [] : [one.heldUntil]))
    .sort((a, b) => a.getTime() - b.getTime())[0];
  const deleted = `${plural(
    sum((one) => one.deleted),
    'old version',
  )} deleted (${formatBytes(sum((one) => one.deletedBytes))})`;
  const held = sum((one) => one.held);
  return held === 0
    ? deleted
    : `${deleted}, ${held} held by object lock (${formatBytes(sum((one) => one.heldBytes))}, the first until ${until!.toISOString().slice(0, 10)})`;
}

export const pruneCopyStep: Step<CopyRun> = {
  name: 'prune-copy',
  title: (run) => `keep the points copy.retention keeps on ${run.description}, merge the others away there`,
  skip: (run) => (run.plan.copy.retention === undefined ? 'no copy.retention: the copy keeps every point' : undefined),
  async run(run) {
    const { plan, store } = run;
    const place = mergePlace(run);
    if (place === undefined) throw new Error('prune-copy on a copy with nowhere to merge');
    const { target } = run.state;
    const [locks, reclaim] = [target.capability('locks'), target.capability('reclaim')];
    const say = (message: string) => run.reporter.emit({ type: 'info', step: 'prune-copy', message });
    const totals: CopyPruned[] = [];
    const reclaimed: Reclaimed[] = [];
    for (const { vm } of run.copied) {
      const hold = await takeVm(run, vm);
      try {
        // Protected on the hub, kept on the copy: as the hub holds it now (unprotected there, the copy's rules decide again).
        const hub = new Map(
          (await store.listBackups({ vm }))
            .filter((backup) => backup.repository === plan.repository.path)
            .map((backup) => [backup.id, { disks: backup.disks.length, protected: backup.protected }] as const),
        );
        totals.push(
          await pruneCopy(
            place,
            { store, runId: run.runId, plan: plan.name, say, signal: run.signal },
            vm,
            plan.copy.retention!,
            hub,
            plan.timezone,
          ),
        );
        if (locks !== undefined && locksLonger(locks.lock)) {
          const extended = await lockKeptPoints(place, locks, vm, plan.copy.retention!, hub, plan.timezone);
          if (extended.objects > 0)
            say(
              `${vm}: the locks of ${plural(extended.objects, 'object')} of ${plural(extended.points, 'point')} extended, as objectLock's keep-* rules ask`,
            );
        }
        // A bucket: the versions no point reads any more are deleted once no lock holds them.
        if (reclaim !== undefined) reclaimed.push(await reclaim(vm));
      } finally {
        await hold.release();
      }
    }
    const sum = (pick: (pruned: CopyPruned) => number) => totals.reduce((total, pruned) => total + pick(pruned), 0);
    const [merged, removed, kept] = [sum((t) => t.merged), sum((t) => t.removed), sum((t) => t.kept)];
    const space = reclaim === undefined ? '' : `; ${reclaimedLine(reclaimed)}`;
    if (merged + removed === 0) return `nothing to merge; ${plural(kept, 'point')} kept on the copy${space}`;
    return `${plural(merged, 'point')} merged, ${removed} removed, ${plural(kept, 'point')} kept on the copy${space}`;
  },
  would: (run) =>
    run.plan.copy.retention === undefined
      ? 'no copy.retention: the copy keeps every point'
      : `judge the copy's points by copy.retention and merge the unkept ones away there (the copy is not contacted in a dry run)`,
};
