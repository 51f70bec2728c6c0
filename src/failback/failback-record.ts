// A failback under way (docs/replication.md#failback), recorded in the state database as a node
// resource of its run (kind failback, named after the plan) before it writes anything, and moved
// on at each phase: doctor says where a killed one stopped and what not to do meanwhile, and the
// next `failback` of the plan takes it over from there. Forgotten with the failover at the end.

import type { NodeSpec } from '../plan/types.js';
import type { Store } from '../store/index.js';

/** Its kind in node_resources; name: the plan. */
export const FAILBACK_RESOURCE = 'failback';

/**
 * copying: the original's disks being written (half written until copied); copied: the original's
 * disks equal the standby's, the original not yet started or the failover not yet forgotten.
 * Nothing is recorded before: until the copy starts, a failback has changed nothing.
 */
export type FailbackPhase = 'copying' | 'copied';

export interface FailbackFacts {
  readonly plan: string;
  readonly planFile: string;
  readonly phase: FailbackPhase;
  /** The failed-over domain (the standby) and the original domain. */
  readonly standby: string;
  readonly original: string;
  readonly nodeSpec: NodeSpec | null;
}

export interface FailbackRecord {
  readonly runId: string;
  readonly node: string;
  readonly facts: FailbackFacts;
}

export async function findFailback(store: Store, plan: string): Promise<FailbackRecord | undefined> {
  const found = (await store.allNodeResources()).find(
    (resource) => resource.kind === FAILBACK_RESOURCE && resource.name === plan,
  );
  return found === undefined
    ? undefined
    : { runId: found.runId, node: found.node, facts: found.facts as unknown as FailbackFacts };
}

// Recorded under this run (taking over a killed one's record), at `facts.phase`.
export async function recordFailback(store: Store, runId: string, node: string, facts: FailbackFacts): Promise<void> {
  await store.recordNodeResource({ runId, node, kind: FAILBACK_RESOURCE, name: facts.plan, facts: { ...facts } });
}

export async function forgetFailback(store: Store, node: string, plan: string): Promise<void> {
  await store.forgetNodeResource(node, FAILBACK_RESOURCE, plan);
}

// What doctor and status say of a failback stopped in `phase`.
export function failbackAdvice(facts: FailbackFacts): string {
  const again = `run sendense-run failback ${facts.planFile} again to finish it`;
  if (facts.phase === 'copying')
    return `stopped while copying the standby ${facts.standby} back: the disks of ${facts.original} are half written, do not start it; ${again} (or start ${facts.standby} again to go on in production there)`;
  return `stopped after the disks of ${facts.original} were made equal to ${facts.standby}'s: ${again} (it starts ${facts.original} unless it runs already, and resumes the syncs)`;
}
