// Where a drill's points are, as its record says it (docs/drills.md#what-a-drill-records): the
// repository's path, or `replica:PLAN` for a replicate plan's replica (docs/drills.md#a-replicas-point).

import type { DrillPlan } from './types.js';

export function drillSource(plan: Pick<DrillPlan, 'repository' | 'drill'>): string {
  return plan.drill.replica === undefined ? plan.repository!.path : replicaDrillSource(plan.drill.replica);
}

/** The `repository` a drill of this replicate plan's replica is recorded under. */
export function replicaDrillSource(replicatePlan: string): string {
  return `replica:${replicatePlan}`;
}
