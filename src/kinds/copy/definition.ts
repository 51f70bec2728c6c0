// copy plans (docs/copies.md): the points of the repository a copy lacks, sent to another host
// over SSH, a directory of this host or an S3 bucket; one VM's, or every VM's when vm is left out.

import { buildCopyTo } from '../../copy/targets/index.js';
import { buildRepository } from '../../plan/build-parts.js';
import { checkCopyRules } from '../../plan/checks/copy-rules.js';
import type { RawCopyPlan } from '../../plan/plan-shape.generated.js';
import type { CopyPlan } from '../../plan/types.js';
import type { KindDefinition } from '../kind.js';

export const copyDefinition: KindDefinition<CopyPlan> = {
  names: ['copy'],
  checks: [checkCopyRules],
  build(data, common) {
    const raw = data as RawCopyPlan;
    const copy = raw.copy;
    const vm = raw.vm?.name;
    return {
      ...common,
      repository: buildRepository(raw.repository),
      kind: 'copy',
      vm: { name: vm ?? 'all' },
      copy: {
        vm,
        to: buildCopyTo(copy.to),
        verify: copy.verify ?? true,
        ...(copy.retention && { retention: copy.retention }),
      },
    };
  },
  runs: { copy: () => import('./index.js').then((module) => module.copyKind) },
  readsSource: false,
  pointsOn: 'repository',
  pointsVm: (plan) => plan.copy.vm,
  historyTaken: 'copy',
  capabilities: { copy: (plan) => plan },
};
