// Recovery resources of the other features: a VMware snapshot (docs/vmware.md#after-a-crash), a
// replicate sync's unfinished point (docs/replication.md), a failover test's domain, a drill's
// domain and directory and its isolated network (docs/drills.md#cleanup), a failback stopped half-way (reported, left to the
// next failback).

import { failbackAdvice, FAILBACK_RESOURCE, type FailbackFacts } from '../../failback/failback-record.js';
import { DRILL_RESOURCE, endDrill, type DrillDomainFacts } from '../../libvirt/drill-domain.js';
import {
  removeRestoredDomain,
  restoredDomainState,
  RESTORED_DOMAIN_RESOURCE,
  type RestoredDomainFacts,
  type RestoredDomainState,
} from '../../libvirt/restored-domain.js';
import type { NodeExec } from '../../libvirt/virsh.js';
import { DRILL_NETWORK_RESOURCE, removeDrillNetwork, type DrillNetworkFacts } from '../../libvirt/drill-network.js';
import { endTestDomain, TEST_DOMAIN_RESOURCE, type TestDomainFacts } from '../../failover/test-domain.js';
import {
  removeLeftoverSnapshot,
  VMWARE_SNAPSHOT_RESOURCE,
  type SnapshotRecordFacts,
} from '../../vmware/leftover-snapshot.js';
import { finishReplicaPoints, REPLICA_POINT_RESOURCE } from '../replica-points.js';
import type { RecoveryResourceKind } from './resource-kind.js';

export const vmwareSnapshot: RecoveryResourceKind = {
  kind: VMWARE_SNAPSHOT_RESOURCE,
  rank: 20,
  describe: (resource) =>
    `VMware snapshot ${resource.name} of VM ${String(resource.facts.vm ?? '')} at ${String(resource.facts.endpoint ?? '')}`,
  // Only the snapshots of that VM with the run's own name: never anyone else's.
  giveBack: ({ doctor, resource, what, forget }) =>
    doctor.act(what, 'remove it', async () => {
      await removeLeftoverSnapshot(resource.facts as unknown as SnapshotRecordFacts, resource.name);
      await forget();
    }),
};

export const replicaPoint: RecoveryResourceKind = {
  kind: REPLICA_POINT_RESOURCE,
  rank: 40,
  describe: (resource) => `unfinished replica sync of plan ${String(resource.facts.plan ?? '')}`,
  giveBack: ({ doctor, host, resource, what }) =>
    doctor.act(what, 'finish or remove the sync', () => finishReplicaPoints(doctor, host, resource)),
};

export const testDomain: RecoveryResourceKind = {
  kind: TEST_DOMAIN_RESOURCE,
  rank: 70,
  describe: (resource) =>
    `failover test domain ${resource.name} (overlays ${((resource.facts.overlays as string[] | undefined) ?? []).join(', ')})`,
  giveBack: ({ doctor, host, resource, what, forget }) =>
    doctor.act(what, 'destroy it and remove its overlays', async () => {
      await endTestDomain((argv, options) => host.exec(argv, options), resource.facts as unknown as TestDomainFacts);
      await forget();
    }),
};

export const drillDomain: RecoveryResourceKind = {
  kind: DRILL_RESOURCE,
  rank: 70,
  describe: (resource) => `drill domain ${resource.name} (directory ${String(resource.facts.dir ?? '')})`,
  giveBack: ({ doctor, host, resource, what, forget }) =>
    doctor.act(what, 'destroy it and remove its directory', async () => {
      await endDrill((argv, options) => host.exec(argv, options), resource.facts as unknown as DrillDomainFacts);
      await forget();
    }),
};

// A restore's new domain, defined and not yet given to the user when its run was killed.
export const restoredDomain: RecoveryResourceKind = {
  kind: RESTORED_DOMAIN_RESOURCE,
  rank: 70,
  describe: (resource) =>
    `restored domain ${resource.name} (files ${((resource.facts.files as string[] | undefined) ?? []).join(', ')})`,
  async giveBack({ doctor, host, resource, what, forget }) {
    const exec: NodeExec = (argv, options) => host.exec(argv, options);
    const facts = resource.facts as unknown as RestoredDomainFacts;
    let found: RestoredDomainState;
    try {
      found = await restoredDomainState(exec, facts);
    } catch (error) {
      return doctor.report(what, `could not look at it: ${(error as Error).message}`, false);
    }
    if (found.is === 'ran')
      return doctor.act(what, `keep it and its files (it has run since: ${found.state}) and forget the record`, forget);
    const action =
      found.is === 'never-ran' ? 'undefine it and delete its files' : 'delete its files (no domain defined)';
    return doctor.act(what, action, async () => {
      await removeRestoredDomain(exec, facts, found.is === 'never-ran');
      await forget();
    });
  },
};

// After the domain (rank 70): its tap leaves the bridge with it. Removed by the recorded names only.
export const drillNetwork: RecoveryResourceKind = {
  kind: DRILL_NETWORK_RESOURCE,
  rank: 71,
  describe: (resource) => `drill network: bridge ${resource.name}, namespace ${String(resource.facts.netns ?? '')}`,
  giveBack: ({ doctor, host, resource, what, forget }) =>
    doctor.act(what, 'remove the bridge and the namespace', async () => {
      await removeDrillNetwork(
        (argv, options) => host.exec(argv, options),
        resource.facts as unknown as DrillNetworkFacts,
      );
      await forget();
    }),
};

// Never finished by doctor: the next failback goes on from the phase (a domain is never stopped or started here).
export const failback: RecoveryResourceKind = {
  kind: FAILBACK_RESOURCE,
  rank: 75,
  describe: (resource) => `unfinished failback of plan ${resource.name}`,
  giveBack: ({ doctor, resource, what }) => {
    doctor.report(what, failbackAdvice(resource.facts as unknown as FailbackFacts));
    return Promise.resolve();
  },
};
