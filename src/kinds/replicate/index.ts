// replicate plans (docs/replication.md): a sync of the VM's changed blocks into a new layer on the
// replica node, which becomes the replica's newest point only when every disk is complete.

import type { RunContext } from '../../engine/run-context.js';
import type { KindModule } from '../kind.js';

export const replicateKind: KindModule<RunContext> = {
  steps: [],
  afterSteps: [],
  async open(base) {
    return base;
  },
  endFacts: () => ({}),
  disksToTransfer: async () => 1,
};
