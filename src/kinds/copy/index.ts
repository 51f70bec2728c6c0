// copy plans (docs/copies.md): the points of the repository (one VM's, or every VM's) that a copy
// on another host (over SSH) or in a bucket (S3) lacks, sent oldest first, each file checked on
// both sides before it counts. The copy is a repository of its own; nothing of it is recorded as backups here.

import { s3Description } from '../../copy/s3/s3-description.js';
import { copyDescription } from '../../copy/ssh-copy-target.js';
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
    const { to } = plan.copy;
    const description = to.type === 's3' ? s3Description(to) : copyDescription(to.node, to.path);
    return unresolvedRun<CopyRun, CopyState>({ ...base, plan, description, copied: [] } as unknown as CopyRun, 'open-copy');
  },
  async close(run) {
    if (!run.resolved) return;
    run.state.close?.();
    await run.state.node?.close();
  },
  endFacts(run) {
    return run.copied.length === 0 ? {} : { bytes: copiedTotals(run.copied).bytes };
  },
  async disksToTransfer() {
    return 0;
  },
};
