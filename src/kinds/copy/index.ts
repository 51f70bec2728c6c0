// copy plans (docs/copies.md): the points of the repository (one VM's, or every VM's) that a copy
// on another host lacks, sent over SSH oldest first, each file checked on both sides before it
// counts. The copy is a repository of its own; nothing of it is recorded as backups here.

import { connectSshNode } from '../../node/ssh.js';
import { uncontactedNode } from '../../node/uncontacted-node.js';
import { sshCopyTarget } from '../../copy/ssh-copy-target.js';
import type { CopyPlan } from '../../plan/types.js';
import type { KindModule } from '../kind.js';
import { copiedTotals, type CopyRun } from './copy-run.js';
import { openCopy } from './open-copy.js';
import { sendPoints } from './send-points.js';

export const copyKind: KindModule<CopyRun> = {
  steps: [openCopy, sendPoints],
  afterSteps: [],
  cleanup: 'unlock the VMs',
  async open(base, mode) {
    const plan = base.plan as CopyPlan;
    const { node, path } = plan.copy.to;
    const copyNode = mode === 'dry-run' ? uncontactedNode(node) : await connectSshNode(node);
    return { ...base, plan, copyNode, target: sshCopyTarget(copyNode, node, path), copied: [] };
  },
  async close(run) {
    await run.copyNode.close();
  },
  endFacts(run) {
    return run.copied.length === 0 ? {} : { bytes: copiedTotals(run.copied).bytes };
  },
  async disksToTransfer() {
    return 0;
  },
};
