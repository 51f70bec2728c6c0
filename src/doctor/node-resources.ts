// What killed runs took on nodes (store/node-resources.ts): a frozen guest is thawed first, then
// the backup job ended, a checkpoint deleted unless it is the change_id of its VM's newest complete
// backup, the run's scratch directory removed, a failover test's domain destroyed with its overlays,
// a copy's merge finished and its partial files removed on the copy's host (docs/copies.md#crash-safety).
// A node over SSH is reached again with the plan's node settings as the run recorded them
// (docs/how-it-works.md#libvirt-domains).

import { endTestDomain, TEST_DOMAIN_RESOURCE, type TestDomainFacts } from '../failover/test-domain.js';
import { endBackupJob } from '../libvirt/backup-job.js';
import { deleteCheckpoint, type CheckpointDisk } from '../libvirt/checkpoints.js';
import { thawGuest } from '../libvirt/guest-agent.js';
import { removeScratchDir } from '../libvirt/scratch-dir.js';
import { virshOn } from '../libvirt/virsh.js';
import { LOCAL_NODE_ID, type NodeHost } from '../node/node.js';
import type { NodeSpec } from '../plan/types.js';
import type { Backup, NodeResource, ReplicaPoint, Store } from '../store/index.js';
import { doctorPass } from './doctor-context.js';
import type { DoctorContext, Finding, Sweeper } from './sweeper.js';
import { RECOVERY_RESOURCE } from '../kinds/recover/recover-run.js';
import { finishReplicaPoints, REPLICA_POINT_RESOURCE } from './replica-points.js';
import { COPY_PARTIAL_RESOURCE, partialFiles } from '../copy/partial-files.js';
import { COPY_MERGE_RESOURCE, finishCopyMerge, type CopyMergeFacts } from '../copy/copy-retention.js';
import { copyPlace } from '../copy/copy-place.js';
import type { CopyTarget } from '../copy/copy-target.js';
import { copyTargetOfFacts } from '../copy/targets/index.js';

// The order they are given back in: nothing frozen a moment longer, the job before its files.
// A dead sync's point is finished before checkpoints are judged: one written whole becomes the
// replica's newest point, and the checkpoint it recorded is then the one the next sync starts from.
// A copy's merge is finished before its partial files go: finishing puts files in place itself.
const ORDER = ['guest-freeze', 'backup-job', REPLICA_POINT_RESOURCE, 'checkpoint', 'scratch-dir', TEST_DOMAIN_RESOURCE, COPY_MERGE_RESOURCE, COPY_PARTIAL_RESOURCE];

export const nodeResourcesSweeper: Sweeper = {
  name: 'node resources',
  // A dead sync's points are finished (or failed) from its 'replica-point' record.
  tables: ['node_resources', 'replica_points', 'replica_point_disks'],
  async sweep(doctor) {
    const left = await deadRunResources(doctor, () => true);
    if (left.length === 0) return;
    // A copy's target that reaches itself (a bucket): what a run left there, target by target.
    const offNode = left.filter((resource) => isCopyResource(resource) && !copyTargetOfFacts(resource.facts).onNode);
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
        if (typeof host === 'string') doctor.report(describe(resource), `could not reach ${resource.node} (${host}): run doctor again when it answers`);
        else await giveBack(doctor, host, resource);
      }
    } finally {
      for (const host of hosts.values()) if (typeof host !== 'string' && host !== doctor.local) await host.close();
    }
  },
};

// What dead runs left on `host` that `match` names (the domain a run is about to use), given back as
// doctor would: a killed run's backup job must not refuse every later run (docs/how-it-works.md#libvirt-domains).
export async function giveBackLeftovers(store: Store, host: NodeHost, match: (resource: NodeResource) => boolean): Promise<readonly Finding[]> {
  // No state database tag: only node resources are given back here, never processes.
  const { doctor, findings } = await doctorPass(store, '', false);
  for (const resource of await deadRunResources(doctor, (resource) => resource.node === host.id && match(resource))) await giveBack(doctor, host, resource);
  return findings;
}

// The recorded resources of runs that are over or dead, in the order they are given back.
async function deadRunResources(doctor: DoctorContext, match: (resource: NodeResource) => boolean): Promise<NodeResource[]> {
  const left: NodeResource[] = [];
  for (const resource of await doctor.store.allNodeResources()) {
    if (resource.kind !== RECOVERY_RESOURCE && match(resource) && !(await doctor.isLive(resource.runId))) left.push(resource);
  }
  return left.sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
}

async function giveBack(doctor: DoctorContext, host: NodeHost, resource: NodeResource): Promise<void> {
  const { store } = doctor;
  const facts = resource.facts as { domain: string; uri: string; disks?: CheckpointDisk[] };
  const virsh = virshOn((argv, options) => host.exec(argv, options), facts.uri);
  const forget = () => store.forgetNodeResource(resource.node, resource.kind, resource.name);
  const what = describe(resource);
  switch (resource.kind) {
    case 'guest-freeze':
      return doctor.act(what, 'thaw it', async () => {
        await thawGuest(virsh, facts.domain);
        await forget();
      });
    case 'backup-job':
      return doctor.act(what, 'end it', async () => {
        await endBackupJob(virsh, facts.domain, resource.name);
        await forget();
      });
    case 'checkpoint':
      if ((await neededCheckpoints(doctor)).has(resource.name)) return doctor.act(what, 'keep it (the newest backup starts from it) and forget the record', forget);
      return doctor.act(what, 'delete it', async () => {
        await deleteCheckpoint(virsh, (argv, options) => host.exec(argv, options), facts.domain, resource.name, facts.disks ?? []);
        await forget();
      });
    case REPLICA_POINT_RESOURCE:
      return doctor.act(what, 'finish or remove the sync', () => finishReplicaPoints(doctor, host, resource));
    case 'scratch-dir':
      return doctor.act(what, 'remove it', async () => {
        await removeScratchDir((argv, options) => host.exec(argv, options), resource.name);
        await forget();
      });
    case COPY_PARTIAL_RESOURCE:
    case COPY_MERGE_RESOURCE:
      return giveBackOnCopy(doctor, (await copyTargetOfFacts(resource.facts).reopen(host)).target, resource);
    case TEST_DOMAIN_RESOURCE:
      return doctor.act(what, 'destroy it and remove its overlays', async () => {
        await endTestDomain((argv, options) => host.exec(argv, options), resource.facts as unknown as TestDomainFacts);
        await forget();
      });
    default:
      return doctor.act(what, 'forget it (unknown kind)', forget);
  }
}

function isCopyResource(resource: NodeResource): boolean {
  return resource.kind === COPY_PARTIAL_RESOURCE || resource.kind === COPY_MERGE_RESOURCE;
}

// What dead runs left on a copy's target that reaches itself (a bucket: docs/copies.md#copies-on-object-storage),
// reached again with the keys the environment or credentials file gives doctor now.
async function giveBackToCopy(doctor: DoctorContext, resources: readonly NodeResource[]): Promise<void> {
  const copy = copyTargetOfFacts(resources[0]!.facts);
  const opened = await copy.reopen(undefined).catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
  if (typeof opened === 'string') {
    for (const resource of resources) doctor.report(describe(resource), `could not reach ${copy.description()} (${opened}): run doctor again with the plan's credentials`);
    return;
  }
  try {
    for (const resource of resources) await giveBackOnCopy(doctor, opened.target, resource);
  } finally {
    await opened.close();
  }
}

// A merge a dead run left on a copy is finished, as the plan's next run would; a partial file (an
// unfinished upload) is removed (docs/copies.md#crash-safety).
async function giveBackOnCopy(doctor: DoctorContext, target: CopyTarget, resource: NodeResource): Promise<void> {
  const { store } = doctor;
  const forget = () => store.forgetNodeResource(resource.node, resource.kind, resource.name);
  if (resource.kind === COPY_PARTIAL_RESOURCE) {
    return doctor.act(describe(resource), copyTargetOfFacts(resource.facts).leftBehind.removal, async () => {
      await target.removeLeft(resource.name);
      await forget();
    });
  }
  return doctor.act(describe(resource), 'finish it', async () => {
    const copy = resource.facts as unknown as CopyMergeFacts;
    const place = copyPlace({ target, partials: partialFiles(store, resource.runId, target, copy.plan) }, copy.scratch ?? '', store, resource.runId);
    if (place === undefined) throw new Error(`${target.description} cannot merge`);
    await finishCopyMerge(place, copy.vm, { store });
    await forget();
  });
}

function describe(resource: NodeResource): string {
  const domain = String(resource.facts.domain ?? '');
  const where = resource.node === LOCAL_NODE_ID ? '' : ` on ${resource.node}`;
  const what: Record<string, string> = {
    'guest-freeze': `guest filesystems of ${domain} frozen`,
    'backup-job': `backup job of domain ${domain} (socket ${resource.name})`,
    checkpoint: `checkpoint ${resource.name} of domain ${domain}`,
    'scratch-dir': `scratch directory ${resource.name}`,
    [REPLICA_POINT_RESOURCE]: `unfinished replica sync of plan ${String(resource.facts.plan ?? '')}`,
    [COPY_MERGE_RESOURCE]: `merge on a copy of VM ${String(resource.facts.vm ?? '')} (${resource.name}, plan ${String(resource.facts.plan ?? '')})`,
    [COPY_PARTIAL_RESOURCE]: `${copyTargetOfFacts(resource.facts).leftBehind.what} ${resource.name} of a copy (plan ${String(resource.facts.plan ?? '')})`,
    [TEST_DOMAIN_RESOURCE]: `failover test domain ${resource.name} (overlays ${((resource.facts.overlays as string[] | undefined) ?? []).join(', ')})`,
  };
  return `${what[resource.kind] ?? `${resource.kind} ${resource.name}`}${where} (run ${resource.runId})`;
}

// The change_ids incrementals and syncs start from: those of the newest complete backup of each VM
// and repository, and of each replica's newest complete point.
async function neededCheckpoints({ store }: DoctorContext): Promise<ReadonlySet<string>> {
  const newest = new Map<string, Backup>();
  for (const backup of await store.listBackups()) if (backup.status === 'complete') newest.set(`${backup.vm}\0${backup.repository}`, backup);
  const replicas = new Map<string, ReplicaPoint>();
  for (const point of await store.listReplicaPoints({ statuses: ['complete'] })) replicas.set(point.plan, point);
  const disks = [...[...newest.values()].flatMap((backup) => backup.disks), ...[...replicas.values()].flatMap((point) => point.disks)];
  return new Set(disks.flatMap((disk) => (disk.changeId ? [disk.changeId] : [])));
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
