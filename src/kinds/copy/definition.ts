// copy plans (docs/copies.md): the points of the repository a copy lacks, sent to another host
// over SSH or to an S3 bucket; one VM's, or every VM's when vm is left out.

import { buildNode, buildRepository, type RawNode, type RawRepository } from '../../plan/build-parts.js';
import { checkCopyRules } from '../../plan/checks/copy-rules.js';
import { expandHome } from '../../plan/home-path.js';
import type { CopyPlan, CopySettings, ObjectLock, RetentionSettings } from '../../plan/types.js';
import { hideFromChildren } from '../../process/child-env.js';
import type { KindDefinition } from '../kind.js';

// The raw shape as the schema guarantees it (only what building needs).
interface RawCopyPlan {
  vm?: { name: string };
  repository: RawRepository;
  copy: { to: RawCopyTo; verify?: boolean; retention?: Omit<RetentionSettings, 'keepChains'> };
}

interface RawCopyTo {
  type: 'ssh' | 's3';
  node?: RawNode;
  path?: string;
  endpoint?: string;
  bucket?: string;
  prefix?: string;
  region?: string;
  accessKeyIdEnv?: string;
  secretAccessKeyEnv?: string;
  credentialsFile?: string;
  profile?: string;
  objectLock?: ObjectLock;
}

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
      copy: { vm, to: buildCopyTo(copy.to), verify: copy.verify ?? true, ...(copy.retention && { retention: copy.retention }) },
    };
  },
  runs: { copy: () => import('./index.js').then((module) => module.copyKind) },
  readsSource: false,
  pointsOn: 'repository',
  pointsVm: (plan) => plan.copy.vm,
  historyTaken: 'copy',
};

function buildCopyTo(to: RawCopyTo): CopySettings['to'] {
  if (to.type === 'ssh') return { type: 'ssh', node: buildNode(to.node!), path: to.path! };
  const credentials =
    to.credentialsFile !== undefined
      ? { file: expandHome(to.credentialsFile), profile: to.profile ?? 'default' }
      : hiddenS3Names({ accessKeyIdEnv: to.accessKeyIdEnv!, secretAccessKeyEnv: to.secretAccessKeyEnv! });
  return {
    type: 's3',
    endpoint: to.endpoint!.replace(/\/$/, ''),
    bucket: to.bucket!,
    prefix: to.prefix ?? '',
    region: to.region ?? 'us-east-1',
    credentials,
    ...(to.objectLock && { objectLock: to.objectLock }),
  };
}

// An object store's key variables, kept out of every child's environment from now on.
function hiddenS3Names<T extends { readonly accessKeyIdEnv: string; readonly secretAccessKeyEnv: string }>(names: T): T {
  hideFromChildren(names.accessKeyIdEnv, names.secretAccessKeyEnv);
  return names;
}
