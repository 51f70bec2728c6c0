// recover plans (docs/instant-recovery.md): a point of the repository started as a libvirt
// domain on the node, its disks served from the hub until moved home.

import {
  buildDefinition,
  buildRepository,
  DEFAULT_LIBVIRT_SCRATCH,
  DEFAULT_LIBVIRT_URI,
} from '../../plan/build-parts.js';
import type { RawRecoverPlan } from '../../plan/plan-shape.generated.js';
import { buildDomainChanges } from '../../plan/domain-changes.js';
import { parseRestorePoint } from '../../plan/restore-point.js';
import type { RecoverPlan, RestorePoint } from '../../plan/types.js';
import type { KindDefinition } from '../kind.js';
import { checkRecoverRules } from './recover-rules.js';

export const recoverDefinition: KindDefinition<RecoverPlan> = {
  names: ['recover'],
  checks: [checkRecoverRules],
  build(data, common) {
    const raw = data as RawRecoverPlan;
    const recover = raw.recover;
    const { to } = recover;
    return {
      ...common,
      repository: buildRepository(raw.repository),
      kind: 'recover',
      vm: { name: raw.vm.name },
      recover: {
        point: parseRestorePoint(recover.point ?? 'latest') as RestorePoint,
        disks: recover.disks,
        to: {
          type: 'libvirt',
          uri: to.uri ?? DEFAULT_LIBVIRT_URI,
          domain: to.domain,
          storage: to.storage,
          scratch: to.scratch ?? DEFAULT_LIBVIRT_SCRATCH,
          definition: to.definition === undefined ? undefined : buildDefinition(to.definition),
          changes: buildDomainChanges(to.changes),
        },
        start: recover.start ?? true,
        moveStorage: recover.moveStorage ?? false,
      },
    };
  },
  runs: { recover: () => import('./index.js').then((module) => module.recoverKind) },
  readsSource: false,
  pointsOn: 'repository',
};
