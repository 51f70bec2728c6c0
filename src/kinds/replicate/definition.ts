// replicate plans (docs/replication.md): a VM's source kept in sync on a replica node, with no
// repository on the hub; its points are the replica's.

import {
  buildDefinition,
  buildNode,
  buildSource,
  DEFAULT_LIBVIRT_SCRATCH,
  DEFAULT_LIBVIRT_URI,
} from '../../plan/build-parts.js';
import { buildDomainChanges } from '../../plan/domain-changes.js';
import type { RawReplica, RawReplicatePlan } from '../../plan/plan-shape.generated.js';
import type { ReplicatePlan, ReplicaSettings } from '../../plan/types.js';
import type { KindDefinition } from '../kind.js';
import { sourceCan } from '../../source/source-types.js';
import { replicaDomain } from './replica-domain-name.js';
import { checkReplicateRules } from './replicate-rules.js';

export const DEFAULT_REPLICA_POINTS = 3;

export const replicateDefinition: KindDefinition<ReplicatePlan> = {
  names: ['replicate'],
  checks: [checkReplicateRules],
  build(data, common) {
    const raw = data as RawReplicatePlan;
    return {
      ...common,
      kind: 'replicate',
      vm: { name: raw.vm.name, source: buildSource(raw.vm.source, raw.vm.name) },
      replica: buildReplica(raw.replica, raw.vm),
    };
  },
  runs: { replicate: () => import('./index.js').then((module) => module.replicateKind) },
  readsSource: true,
  pointsOn: 'replica',
  locksVm: true,
  pointWord: 'replica point',
  capabilities: { replica: (plan) => plan },
};

function buildReplica(replica: RawReplica, vm: RawReplicatePlan['vm']): ReplicaSettings {
  return {
    node: replica.node === undefined ? undefined : buildNode(replica.node),
    path: replica.path,
    points: replica.points ?? DEFAULT_REPLICA_POINTS,
    domain: replicaDomain(replica, vm.name, sourceCan(vm.source, 'hasLibvirtDomain')),
    uri: replica.uri ?? DEFAULT_LIBVIRT_URI,
    scratch: replica.scratch ?? DEFAULT_LIBVIRT_SCRATCH,
    definition: replica.definition === undefined ? undefined : buildDefinition(replica.definition),
    changes: buildDomainChanges(replica.changes),
  };
}
