// The partial files a copy run writes on the other host (docs/copies.md#crash-safety): each is
// recorded in the state database (node resource `copy-partial`, with how to reach that host)
// before it is created and forgotten once it is renamed into place or removed, so `doctor`
// removes what a killed run left there.

import type { Store } from '../store/index.js';
import type { CopyTarget, CopyTargetFacts } from './copy-target.js';

export const COPY_PARTIAL_RESOURCE = 'copy-partial';

/** What doctor needs to reach the host, or the bucket, again: the plan, and the target's facts. */
export interface CopyPartialFacts extends CopyTargetFacts {
  readonly plan: string;
}

export interface PartialFiles {
  record(relative: string): Promise<void>;
  forget(relative: string): Promise<void>;
}

export function partialFiles(store: Store, runId: string, target: CopyTarget, plan: string): PartialFiles {
  const facts: CopyPartialFacts = { plan, ...target.facts };
  return {
    record: (relative) =>
      store.recordNodeResource({
        runId,
        node: target.node,
        kind: COPY_PARTIAL_RESOURCE,
        name: target.absolute(relative),
        facts: { ...facts },
      }),
    forget: (relative) => store.forgetNodeResource(target.node, COPY_PARTIAL_RESOURCE, target.absolute(relative)),
  };
}
