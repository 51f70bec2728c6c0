// What killed runs took on nodes, copy targets and buckets (store/node-resources.ts), given back in
// the order of the registry of resource kinds (./resources/index.ts), each by its own module: a
// frozen guest thawed, a VMware snapshot removed, a backup job ended, a checkpoint deleted unless it
// is the change_id of its VM's newest complete backup, a scratch directory removed, a failover
// test's domain destroyed, a copy's merge finished and its partial files removed
// (docs/copies.md#crash-safety). A node over SSH is reached again with the plan's node settings as
// the run recorded them (docs/how-it-works.md#libvirt-domains).

import { LOCAL_NODE_ID, type NodeHost } from '../node/node.js';
import type { NodeSpec } from '../plan/types.js';
import type { NodeResource, Store } from '../store/index.js';
import { doctorPass } from './doctor-context.js';
import type { DoctorContext, Finding, Sweeper } from './sweeper.js';
import { RECOVERY_RESOURCE } from '../kinds/recover/recover-run.js';
import { copyTargetOfFacts } from '../copy/targets/index.js';
import { giveBackOnCopy } from './resources/copy-resources.js';
import { rankOf, resourceKind } from './resources/index.js';

export const nodeResourcesSweeper: Sweeper = {
  name: 'node resources',
  // A dead sync's points are finished (or failed) from its 'replica-point' record.
  tables: ['node_resources', 'replica_points', 'replica_point_disks'],
  async sweep(doctor) {
    const left = await deadRunResources(doctor, () => true, true);
    if (left.length === 0) return;
    // A copy's target that reaches itself (a bucket): what a run left there, target by target.
    const offNode = left.filter((resource) => resourceKind(resource.kind)?.reachesItself?.(resource) === true);
    for (const node of new Set(offNode.map((resource) => resource.node))) {
      await giveBackToCopy(
        doctor,
        offNode.filter((resource) => resource.node === node),
      );
    }
    // In ORDER across nodes, not node by node: a sync's point on the replica node is finished before
    // the checkpoint on the source node is judged (the point it makes the newest needs it).
    const hosts = new Map<string, NodeHost | string>();
    try {
      for (const resource of left.filter((each) => !offNode.includes(each))) {
        let host = hosts.get(resource.node);
        if (host === undefined) {
          const spec = left.find((each) => each.node === resource.node && each.facts.nodeSpec != null)?.facts.nodeSpec;
          host = await reach(doctor, resource.node, (spec ?? null) as NodeSpec | null);
          hosts.set(resource.node, host);
        }
        if (typeof host === 'string')
          doctor.report(
            describe(resource),
            `could not reach ${resource.node} (${host}): run doctor again when it answers`,
          );
        else await giveBack(doctor, host, resource);
      }
    } finally {
      for (const host of hosts.values()) if (typeof host !== 'string' && host !== doctor.local) await host.close();
    }
  },
};

// What dead runs left on `host` that `match` names (the domain a run is about to use), given back as
// doctor would: a killed run's backup job must not refuse every later run (docs/how-it-works.md#libvirt-domains).
export async function giveBackLeftovers(
  store: Store,
  host: NodeHost,
  match: (resource: NodeResource) => boolean,
): Promise<readonly Finding[]> {
  // No state database tag: only node resources are given back here, never processes.
  const { doctor, findings } = await doctorPass(store, '', false);
  for (const resource of await deadRunResources(doctor, (resource) => resource.node === host.id && match(resource)))
    await giveBack(doctor, host, resource);
  return findings;
}

// The recorded resources of runs that are over or dead, in the order they are given back;
// `caches`: also those doctor gives back while their run lives (a files session).
async function deadRunResources(
  doctor: DoctorContext,
  match: (resource: NodeResource) => boolean,
  caches = false,
): Promise<NodeResource[]> {
  const left: NodeResource[] = [];
  for (const resource of await doctor.store.allNodeResources()) {
    if (resource.kind === RECOVERY_RESOURCE || !match(resource)) continue;
    if ((caches && resourceKind(resource.kind)?.whileRunning === true) || !(await doctor.isLive(resource.runId)))
      left.push(resource);
  }
  return left.sort((a, b) => rankOf(a.kind) - rankOf(b.kind));
}

async function giveBack(doctor: DoctorContext, host: NodeHost, resource: NodeResource): Promise<void> {
  const forget = () => doctor.store.forgetNodeResource(resource.node, resource.kind, resource.name);
  const what = describe(resource);
  const kind = resourceKind(resource.kind);
  if (kind === undefined) return doctor.act(what, 'forget it (unknown kind)', forget);
  return kind.giveBack({ doctor, host, resource, what, forget });
}

// What dead runs left on a copy's target that reaches itself (a bucket: docs/copies.md#copies-on-object-storage),
// reached again with the keys the environment or credentials file gives doctor now.
async function giveBackToCopy(doctor: DoctorContext, resources: readonly NodeResource[]): Promise<void> {
  const copy = copyTargetOfFacts(resources[0]!.facts);
  const opened = await copy
    .reopen(undefined)
    .catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
  if (typeof opened === 'string') {
    for (const resource of resources)
      doctor.report(
        describe(resource),
        `could not reach ${copy.description()} (${opened}): run doctor again with the plan's credentials`,
      );
    return;
  }
  try {
    for (const resource of resources) {
      const forget = () => doctor.store.forgetNodeResource(resource.node, resource.kind, resource.name);
      await giveBackOnCopy(doctor, opened.target, resource, describe(resource), forget);
    }
  } finally {
    await opened.close();
  }
}

function describe(resource: NodeResource): string {
  const where = resource.node === LOCAL_NODE_ID ? '' : ` on ${resource.node}`;
  const what = resourceKind(resource.kind)?.describe(resource) ?? `${resource.kind} ${resource.name}`;
  return `${what}${where} (run ${resource.runId})`;
}

// This host, or the node over SSH as the run reached it; a string says why not.
export async function reach(doctor: DoctorContext, node: string, spec: NodeSpec | null): Promise<NodeHost | string> {
  if (node === LOCAL_NODE_ID) return doctor.local;
  if (spec === null || spec === undefined) return 'the run recorded no way to reach it';
  try {
    const { connectSshNode } = await import('../node/ssh.js');
    return await connectSshNode(spec);
  } catch (error) {
    return (error as Error).message;
  }
}
