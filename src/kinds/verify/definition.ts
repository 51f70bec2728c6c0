// verify plans (docs/plan-reference.md): stored backups of one VM, or of every VM of the
// repository (vm: all), checked against their manifests.

import { buildRepository } from '../../plan/build-parts.js';
import { parseDuration } from '../../plan/duration.js';
import type { RawVerifyPlan } from '../../plan/plan-shape.generated.js';
import type { VerifyPlan } from '../../plan/types.js';
import type { KindDefinition } from '../kind.js';

export const verifyDefinition: KindDefinition<VerifyPlan> = {
  names: ['verify'],
  checks: [],
  build(data, common) {
    const raw = data as RawVerifyPlan;
    const verify = raw.verify;
    return {
      ...common,
      repository: buildRepository(raw.repository),
      kind: 'verify',
      vm: { name: verify.vm },
      verify: {
        vm: verify.vm === 'all' ? undefined : verify.vm,
        outdatedAfter: verify.outdatedAfter === undefined ? undefined : parseDuration(verify.outdatedAfter),
      },
    };
  },
  runs: { verify: () => import('./index.js').then((module) => module.verifyKind) },
  readsSource: false,
  pointsOn: 'repository',
  pointsVm: (plan) => plan.verify.vm,
};
