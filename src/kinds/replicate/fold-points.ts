// fold-points (after a successful sync): the oldest points beyond replica.points are folded into the
// next one (docs/replication.md#points), oldest first, each recorded before its files change so a
// kill leaves doctor the rest; never a point a running failover test reads, nor one under it. A
// failure is a warning: the next sync folds again.

import { REPLICA_POINT_RESOURCE } from '../../doctor/replica-points.js';
import type { Step } from '../../engine/step.js';
import { plural } from '../../format/plural.js';
import { completePoints, foldOldPoints } from '../../replica/replica-points.js';
import { testedPoints } from '../../replica/tested-points.js';
import { type ReplicateRun } from './replicate-run.js';

export const foldPoints: Step<ReplicateRun> = {
  name: 'fold-points',
  title: (run) => `keep ${plural(run.plan.replica.points, 'point')} on ${run.replicaNode.description}`,
  async run(run) {
    // Recorded while folding: doctor finishes a fold a kill interrupts.
    const node = run.replicaNode.id;
    const name = `fold ${run.plan.name}`;
    await run.store.recordNodeResource({
      runId: run.runId,
      node,
      kind: REPLICA_POINT_RESOURCE,
      name,
      facts: { plan: run.plan.name, sourceType: run.plan.vm.source.type, nodeSpec: run.plan.replica.node ?? null },
    });
    // A running failover test's or drill's point and those under it wait: the test's QEMU reads their files.
    const points = await completePoints(run.store, run.plan.name);
    const { held, tests } = await testedPoints(run.store, node, points);
    if (points.length > run.plan.replica.points && held.has(points[0]!.id)) {
      for (const test of tests) {
        run.reporter.emit({
          type: 'warning',
          step: 'fold-points',
          message: `the ${test.by === 'drill' ? 'drill' : 'failover test'} ${test.domain} reads point ${test.pointId}: it and the points under it are not folded until the ${test.by} ends`,
        });
      }
    }
    const folded = await foldOldPoints(
      run.store,
      run.plan.name,
      run.plan.replica.points,
      run.replicaNode,
      (message) => run.reporter.emit({ type: 'info', step: 'fold-points', message }),
      held,
    );
    await run.store.forgetNodeResource(node, REPLICA_POINT_RESOURCE, name);
    const kept = (await completePoints(run.store, run.plan.name)).length;
    return folded === 0
      ? `${plural(kept, 'point')}, nothing to fold`
      : `${plural(folded, 'point')} folded, ${plural(kept, 'point')} kept`;
  },
  would: (run) => `fold the oldest points into the next while more than ${run.plan.replica.points} are kept`,
};
