// copy plans (docs/copies.md): the points of the repository (one VM's, or every VM's) that a copy
// (src/copy/targets/: over SSH, in a directory of this host, in an S3 bucket) lacks, sent oldest first, each file checked on
// both sides before it counts. The copy is a repository of its own; nothing of it is recorded as backups here.

import { describeCopyTo } from '../../copy/targets/index.js';
import { unresolvedRun } from '../../engine/run-context.js';
import type { KindModule } from '../kind.js';
import { copiedTotals, type CopyRun, type CopyState } from './copy-run.js';
import { openCopy } from './open-copy.js';
import { pruneCopyStep } from './prune-copy.js';
import { sendPoints } from './send-points.js';

export const copyKind: KindModule<CopyRun> = {
  steps: [openCopy, sendPoints, pruneCopyStep],
  afterSteps: [],
  cleanup: 'unlock the VMs',
  async open(base) {
    const { plan } = base;
    const description = describeCopyTo(plan.copy.to);
    return unresolvedRun<CopyRun, CopyState>(
      { ...base, plan, description, copied: [] } as unknown as CopyRun,
      'open-copy',
    );
  },
  async close(run) {
    if (!run.resolved) return;
    await run.state.close();
  },
  endFacts(run) {
    return run.copied.length === 0 ? {} : { bytes: copiedTotals(run.copied).bytes };
  },
  async disksToTransfer() {
    return 0;
  },
};
