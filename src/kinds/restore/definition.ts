// restore plans (docs/plan-reference.md): a point of the repository written back to disk files, NBD
// exports or the files of a new libvirt domain, or some of its files extracted (a files target, src/kinds/restore-files).

import { buildRepository, DEFAULT_LIBVIRT_URI } from '../../plan/build-parts.js';
import { expandHome } from '../../plan/home-path.js';
import type { RawRestorePlan, RawRestoreTarget } from '../../plan/plan-shape.generated.js';
import { parseRestorePoint } from '../../plan/restore-point.js';
import {
  isFilesRestore,
  type FilesTarget,
  type RestorePlan,
  type RestorePoint,
  type RestoreTarget,
} from '../../plan/types.js';
import type { KindDefinition } from '../kind.js';
import { checkRestoreRules } from './restore-rules.js';

export const restoreDefinition: KindDefinition<RestorePlan> = {
  names: ['restore'],
  checks: [checkRestoreRules],
  // Writing a point back out reads guest data: the restore role's right; defining a VM on the
  // hub's host (a domain target) is the operator's (docs/api.md#tokens-and-roles).
  runRole: (plan) => (plan.restore.target.type === 'domain' ? 'operator' : 'restore'),
  build(data, common) {
    const raw = data as RawRestorePlan;
    const restore = raw.restore;
    return {
      ...common,
      repository: buildRepository(raw.repository),
      kind: 'restore',
      vm: { name: raw.vm.name },
      restore: {
        point: parseRestorePoint(restore.point ?? 'latest') as RestorePoint,
        disks: restore.disks,
        target: buildTarget(restore.target),
        verify: restore.verify ?? true,
      },
    };
  },
  // A files target is a restore of its own: no NBD, no tunnel.
  runs: {
    restore: () => import('./index.js').then((module) => module.restoreKind),
    'restore-files': () => import('../restore-files/index.js').then((module) => module.filesRestoreKind),
  },
  runOf: (plan) => (isFilesRestore(plan) ? 'restore-files' : 'restore'),
  readsSource: false,
  pointsOn: 'repository',
  pointWord: 'from backup',
  historyTaken: 'restore',
};

function buildTarget(target: RawRestoreTarget): RestoreTarget | FilesTarget {
  if (target.type === 'nbd') return { type: 'nbd', url: target.url };
  if (target.type === 'domain')
    return {
      type: 'domain',
      uri: target.uri ?? DEFAULT_LIBVIRT_URI,
      domain: target.domain,
      path: target.path,
      start: target.start ?? false,
      network: target.network ?? 'none',
    };
  if (target.type === 'files')
    return { type: 'files', paths: [...target.paths], to: expandHome(target.to), overwrite: target.overwrite ?? false };
  return {
    type: 'file',
    path: target.path,
    format: target.format ?? 'qcow2',
    overwrite: target.overwrite ?? false,
    mode: parseInt(target.mode ?? '0600', 8),
  };
}
