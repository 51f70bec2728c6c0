// A real failover (docs/replication.md#failover): the replica domain started on the replica node
// from a point. From the newest point its disks are replica.path; from an older one each disk is a
// new overlay beside replica.path on that point's layer, so no point's layer is ever written. The
// failover is recorded before the domain starts, so the plan's syncs stop first; a start that
// fails forgets it again and gives back what it made, newest first.

import { UndoStack } from '../engine/undo-stack.js';
import { isSendenseError, SendenseError } from '../errors.js';
import { parseDomainXml } from '../libvirt/domain-xml.js';
import { replaceDiskImages } from '../libvirt/recovered-domain-xml.js';
import { changedParts, defineReplicaDomain, replicaDomainState, replicaDomainXml } from '../libvirt/replica-domain.js';
import { virshMessage, virshOn, type NodeExec, type Virsh } from '../libvirt/virsh.js';
import { createLocalNode } from '../node/local.js';
import type { NodeHost } from '../node/node.js';
import type { ReplicatePlan } from '../plan/types.js';
import { isLibvirtDomainSource } from '../source/source-types.js';
import { createLayer, existingFiles, removeLayers, sameFile } from '../replica/replica-files.js';
import { failoverOverlay, isReplicaImage } from '../replica/replica-layout.js';
import type { ReplicaPoint, Store } from '../store/index.js';
import { execOn } from '../replica/replica-node.js';
import { testDomainName } from './test-domain.js';
import { dropFailbackBitmap, FAILBACK_BITMAP, startFailbackBitmap } from '../failback/failback-bitmap.js';

// How long a source node may take to answer before the original is taken as lost.
const SOURCE_ANSWER_MS = 10_000;

export interface FailedOverDisk {
  readonly key: number;
  /** What the domain runs on: replica.path (the newest point) or its failover overlay. */
  readonly image: string;
  /** The point's own layer under it. */
  readonly layer: string;
}

export interface FailedOver {
  readonly domain: string;
  /** The replica node, for people. */
  readonly node: string;
  readonly point: ReplicaPoint;
  /** Whether it is the replica's newest point (then the disks are replica.path). */
  readonly newest: boolean;
  readonly disks: readonly FailedOverDisk[];
  /** What became of the domain's definition before it started. */
  readonly definition: 'defined' | 'updated' | 'unchanged';
  /** What the definition left out or changed, one line each. */
  readonly notes: readonly string[];
}

/** How a failover treats an original that still runs. */
export interface FailOverOptions {
  /** --force: start the replica domain beside a source domain that still runs. */
  readonly force: boolean;
  /** Said before anything starts, whatever --quiet says. */
  warn(line: string): void;
}

// `signal` (Ctrl+C) stops it before the failover is recorded, never after.
export async function failOver(
  store: Store,
  node: NodeHost,
  plan: ReplicatePlan,
  point: ReplicaPoint,
  runId: string,
  signal: AbortSignal,
  options: FailOverOptions,
): Promise<FailedOver> {
  const domain = plan.replica.domain!;
  const exec = execOn(node);
  const virsh = virshOn(exec, plan.replica.uri);
  const state = await replicaDomainState(virsh, domain);
  if (state.exists && state.running) {
    throw new SendenseError(
      `the replica domain ${domain} on ${node.description} is ${state.state} already, started outside sendense-run: shut it down first (a sync refuses while it runs)`,
      { refusedStart: true },
    );
  }
  // Its overlays are on a point's layer: QEMU would not let the replica domain write under it.
  const test = testDomainName(domain);
  if ((await virsh.attempt(['domstate', test])).exitCode === 0)
    throw new SendenseError(
      `a failover test of this replica runs on ${node.description} (domain ${test}): end it first (Ctrl+C where it runs, or sendense-run doctor if it was killed)`,
      { refusedStart: true },
    );
  const original = await runningSource(plan);
  if (original !== undefined) {
    if (!options.force) {
      throw new SendenseError(
        `${original}: a failover now would run two copies of one VM; shut it down first, or give --force if it must start anyway`,
        { refusedStart: true },
      );
    }
    options.warn(
      `WARNING: --force: ${original}, and the replica domain ${domain} starts beside it: two copies of one VM now run`,
    );
  }
  const newest = (await store.latestCompleteReplicaPoint(plan.name))?.id === point.id;
  const undo = new UndoStack();
  try {
    const disks = newest ? await newestPointDisks(exec, node, point) : await failoverOverlays(exec, node, point, undo);
    const images = new Map(disks.map((disk) => [disk.key, disk.image]));
    const defined = await defineForFailover(virsh, plan, point, images, state.exists, undo, newest);
    // The standby's own writes, recorded from its first: what a failback copies back (docs/replication.md#failback).
    for (const disk of disks) {
      await startFailbackBitmap(exec, disk.image);
      undo.push({
        what: `remove bitmap ${FAILBACK_BITMAP} of ${disk.image}`,
        when: 'failure',
        step: 'failover',
        run: () => dropFailbackBitmap(exec, disk.image),
      });
    }
    signal.throwIfAborted();
    await store.recordReplicaFailover({ plan: plan.name, pointId: point.id, runId, domain, node: node.id });
    undo.push({
      what: `forget the failover of plan ${plan.name}`,
      when: 'failure',
      step: 'failover',
      run: () => store.forgetReplicaFailover(plan.name),
    });
    const started = await virsh.attempt(['start', domain]);
    if (started.exitCode !== 0)
      throw new SendenseError(
        `cannot start the replica domain ${domain} on ${node.description}: ${virshMessage(started)}`,
      );
    return Object.freeze({
      domain,
      node: node.description,
      point,
      newest,
      disks: Object.freeze(disks),
      definition: defined.how,
      notes: defined.notes,
    });
  } catch (error) {
    const failed = (await undo.unwind()).filter((outcome) => outcome.error !== undefined);
    const left = failed.map((outcome) => `could not ${outcome.what}: ${outcome.error!.message}`);
    const recorded = failed.some((outcome) => outcome.what.startsWith('forget the failover'));
    const after = recorded ? 'the failover is still recorded' : 'no failover is recorded: the syncs of the plan go on';
    // A bug keeps its stack; an interruption stays one.
    if (!isSendenseError(error) || error === signal.reason) throw error;
    throw new SendenseError([`${error.message}; ${after}`, ...left].join('; '), { cause: error });
  }
}

// The source domain, if it still runs and its node answers, said in one phrase: then the replica
// would be a second copy of a VM that is not lost. A node that does not answer is taken as lost.
async function runningSource(plan: ReplicatePlan): Promise<string | undefined> {
  const source = plan.vm.source;
  // Only a source that is a libvirt domain can be asked whether it runs.
  if (!isLibvirtDomainSource(source)) return undefined;
  let node: NodeHost;
  try {
    node =
      plan.node === undefined
        ? createLocalNode()
        : await (await import('../node/ssh.js')).connectSshNode(plan.node, { readyTimeoutMs: SOURCE_ANSWER_MS });
  } catch {
    return undefined;
  }
  try {
    const state = await virshOn(execOn(node), source.uri).attempt(['domstate', source.domain]);
    const text = state.stdout.trim();
    if (state.exitCode !== 0 || text === '' || /^(shut off|crashed)$/.test(text)) return undefined;
    return `the source domain ${source.domain} on ${node.description} is ${text}`;
  } finally {
    await node.close();
  }
}

// The newest point: the disks are replica.path, which must be that point's layer (installed).
async function newestPointDisks(exec: NodeExec, node: NodeHost, point: ReplicaPoint): Promise<FailedOverDisk[]> {
  for (const disk of point.disks) {
    if (!(await sameFile(exec, disk.layer, disk.path))) {
      throw new SendenseError(
        `${disk.path} on ${node.description} is not the replica's newest point ${point.id} (its layer ${disk.layer}): run sendense-run doctor, then failover again`,
      );
    }
  }
  return point.disks.map((disk) => ({ key: disk.diskKey, image: disk.path, layer: disk.layer }));
}

// An older point: a new overlay per disk on its layer, beside replica.path; one already there holds an earlier failover's writes.
async function failoverOverlays(
  exec: NodeExec,
  node: NodeHost,
  point: ReplicaPoint,
  undo: UndoStack,
): Promise<FailedOverDisk[]> {
  const overlays = point.disks.map((disk) => failoverOverlay(disk.path, point.id, false));
  const present = [...(await existingFiles(exec, overlays))];
  if (present.length > 0) {
    throw new SendenseError(
      `${present.join(', ')} on ${node.description} exist${present.length === 1 ? 's' : ''} already (an earlier failover's writes to point ${point.id}?): move ${present.length === 1 ? 'it' : 'them'} away first`,
    );
  }
  const disks: FailedOverDisk[] = [];
  for (const disk of point.disks) {
    const overlay = failoverOverlay(disk.path, point.id, false);
    await createLayer(exec, overlay, { backing: disk.layer, virtualSize: disk.virtualSize });
    undo.push({
      what: `remove ${overlay}`,
      when: 'failure',
      step: 'failover',
      run: () => removeLayers(exec, [overlay]),
    });
    disks.push({ key: disk.diskKey, image: overlay, layer: disk.layer });
  }
  return disks;
}

// The replica domain on `images`: defined from the point's definition when missing, else its own
// definition with its disks moved when they are elsewhere; the previous definition is the undo.
async function defineForFailover(
  virsh: Virsh,
  plan: ReplicatePlan,
  point: ReplicaPoint,
  images: ReadonlyMap<number, string>,
  exists: boolean,
  undo: UndoStack,
  newest: boolean,
): Promise<{ how: FailedOver['definition']; notes: readonly string[] }> {
  const domain = plan.replica.domain!;
  const made = () =>
    replicaDomainXml({
      domain,
      stored: point.definition ?? undefined,
      definition: plan.replica.definition,
      disks: point.disks.map((disk) => ({ key: disk.diskKey, source: disk.source, image: images.get(disk.diskKey)! })),
      changes: plan.replica.changes,
    });
  if (!exists) {
    const definition = made();
    await defineReplicaDomain(
      virsh,
      definition.xml,
      domain,
      point.disks.map((disk) => disk.path),
    );
    // On the newest point it is the replica domain a sync defines: it stays.
    if (!newest)
      undo.push({
        what: `undefine ${domain}`,
        when: 'failure',
        step: 'failover',
        run: async () => void (await virsh.run(['undefine', domain], `undefine ${domain}`)),
      });
    return { how: 'defined', notes: definition.notes };
  }
  const current = await virsh.run(['dumpxml', '--inactive', domain], `read the definition of ${domain}`);
  // replica.changes as the plan says them now, even if edited since the last sync.
  if (plan.replica.changes !== undefined) {
    const definition = made();
    const sameParts = changedParts(current) === changedParts(definition.xml);
    const onImages = parseDomainXml(current).disks.every(
      (disk) => disk.path === undefined || [...images.values()].includes(disk.path) || !isReplicaDisk(disk.path, point),
    );
    if (sameParts && onImages) return { how: 'unchanged', notes: [] };
    await defineReplicaDomain(
      virsh,
      definition.xml,
      domain,
      point.disks.map((disk) => disk.path),
    );
    undo.push({
      what: `restore the definition of ${domain}`,
      when: 'failure',
      step: 'failover',
      run: async () =>
        void (await virsh.runWithXml(['define', '--file'], current, `restore the definition of ${domain}`)),
    });
    return { how: 'updated', notes: definition.notes };
  }
  const moves = new Map<string, string>();
  const domainDisks = parseDomainXml(current).disks;
  for (const disk of point.disks) {
    const found = domainDisks.find(
      (candidate) => candidate.path !== undefined && isReplicaImage(candidate.path, disk.path),
    );
    if (found === undefined) {
      throw new SendenseError(
        `the domain ${domain} has no disk on ${disk.path} (its disks: ${domainDisks.map((candidate) => candidate.path ?? '-').join(', ')}): it is not this replica's domain`,
      );
    }
    if (found.path !== images.get(disk.diskKey)) moves.set(found.target, images.get(disk.diskKey)!);
  }
  if (moves.size === 0) return { how: 'unchanged', notes: [] };
  await virsh.runWithXml(
    ['define', '--file'],
    replaceDiskImages(current, moves),
    `put the disks of ${domain} on point ${point.id}`,
  );
  undo.push({
    what: `restore the definition of ${domain}`,
    when: 'failure',
    step: 'failover',
    run: async () =>
      void (await virsh.runWithXml(['define', '--file'], current, `restore the definition of ${domain}`)),
  });
  return { how: 'updated', notes: [] };
}

// A disk path that is one of the point's replica files (replica.path or an overlay beside it).
function isReplicaDisk(path: string, point: ReplicaPoint): boolean {
  return point.disks.some((disk) => isReplicaImage(path, disk.path));
}
