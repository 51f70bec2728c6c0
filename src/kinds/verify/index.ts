// verify plans (docs/how-it-works.md#verification): one step that checks stored backups against
// their manifests; it takes nothing, so there is no cleanup to list.

import type { RunContext } from '../../engine/run-context.js';
import type { VerifyPlan } from '../../plan/types.js';
import type { KindModule } from '../kind.js';
import { verifyBackupsStep } from './verify-backups.js';

export const verifyKind: KindModule<RunContext<VerifyPlan>> = {
  steps: [verifyBackupsStep],
  afterSteps: [],
  async open(base) {
    return base;
  },
  endFacts() {
    return {};
  },
  async disksToTransfer() {
    return 0;
  },
};
