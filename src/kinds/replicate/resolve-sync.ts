// resolve-sync: what this sync makes. The VM's lock (a backup of it must not run a job at the same
// time), nothing failed over, what dead syncs left finished, then per disk: full into a new chain,
// or only what changed since the replica's newest point by the plan's own change tracking (its own
// checkpoints and bitmaps: a backup plan's chain of the same VM is never touched). Never over
// another plan's replica or a disk in use. Creates the point's records (status running).

import { forgetEndedSyncRecords, REPLICA_POINT_RESOURCE, type ReplicaPointFacts } from '../../doctor/replica-points.js';
import { wouldFail, type Step } from '../../engine/step.js';
import { holdVm } from '../../engine/vm-turn.js';
import { SendenseError, isSendenseError } from '../../errors.js';
import { formatLocalTime } from '../../format/local-time.js';
import { plural } from '../../format/plural.js';
import { missingNetwork } from '../../libvirt/check-networks.js';
import { virshOn } from '../../libvirt/virsh.js';
import type { ReplicatePlan } from '../../plan/types.js';
import { exportName, newBackupId } from '../../repository/layout.js';
import { existingFiles, sameFile } from '../../replica/replica-files.js';
import { layerFile, replicaDiskPath } from '../../replica/replica-layout.js';
import { refuseOtherPlansReplica, refuseReplicaInUse } from '../../replica/replica-owner.js';
import { finishUnfinishedPoints } from '../../replica/replica-points.js';
import { backupSource, type SourceDiskFacts } from '../../source/index.js';
import type { Backup, ReplicaPoint, Store } from '../../store/index.js';
import { execOn } from '../../replica/replica-node.js';
import { type ReplicaDiskJob, type ReplicateRun, type SyncState } from './replicate-run.js';

/** The id a dry run shows for the point a sync would make. */
export const NEW_POINT_ID = '<new-point-id>';

interface SyncDecision {
  readonly state: SyncState;
  readonly notes: readonly string[];
  /** Why this sync is a full into a new chain although the replica has a point, if so. */
  readonly whyFull?: string;
  readonly previous?: ReplicaPoint;
}

export const resolveSync: Step<ReplicateRun> = {
  name: 'resolve-sync',
  facts: ({ state }) => ({
    pointId: state.backupId,
    taken: state.type,
    chainId: state.chainId,
    parentId: state.parentId ?? null,
  }),
  title: (run) => `find the replica's newest point of ${run.plan.vm.name} on ${run.replicaNode.description}`,
  async run(run) {
    const { plan, store } = run;
    // The run's turn at its VM, taken again by the engine: its cleanup gives it back.
    await holdVm(run, plan.vm.name, 'resolve-sync');
    await refuseFailedOver(store, plan);
    await finishUnfinishedPoints(store, plan.name, run.replicaNode, (message) =>
      run.reporter.emit({ type: 'info', step: 'resolve-sync', message }),
    );
    await forgetEndedSyncRecords(store, plan.name, run.replicaNode.id);
    await refuseRunningReplica(run);
    await refuseMissingNetwork(run);
    const decision = await decideSync(run, await unusedPointId(store));
    const paths = decision.state.disks.map((disk) => disk.replicaPath);
    await refuseOtherPlansReplica(store, plan.name, run.replicaNode, paths);
    await refuseReplicaInUse(execOn(run.replicaNode), run.replicaNode, paths);
    for (const note of decision.notes) run.reporter.emit({ type: 'info', step: 'resolve-sync', message: note });
    if (decision.whyFull !== undefined)
      run.reporter.emit({
        type: 'warning',
        step: 'resolve-sync',
        message: `${decision.whyFull}: this sync copies every disk whole into a new chain`,
      });
    const { state } = decision;
    run.state = state;
    // Recorded on the replica node before the point exists: doctor finishes or removes what a kill leaves.
    await recordSync(run, state.backupId);
    // Undone before the record's forgetting (pushed after it): a failed sync whose layers are gone leaves no record.
    run.undo.push({
      what: `mark sync ${state.backupId} failed`,
      when: 'failure',
      step: 'resolve-sync',
      run: () => failSync(run, state),
    });
    await store.createReplicaPoint({
      id: state.backupId,
      plan: plan.name,
      vm: plan.vm.name,
      type: state.type,
      chainId: state.chainId,
      parentId: state.parentId,
      runId: run.runId,
      sourceNode: run.node.id,
      replicaNode: run.replicaNode.id,
    });
    const source = backupSource(plan.vm.source);
    for (const disk of state.disks) {
      await store.addReplicaPointDisk(state.backupId, {
        diskKey: disk.key,
        path: disk.replicaPath,
        layer: disk.layer,
        virtualSize: disk.virtualSize,
        source: source.label(disk),
      });
    }
    const from = state.parentId === undefined ? 'full, new chain' : `changes since point ${state.parentId}`;
    return `point ${state.backupId}: ${from}, ${plural(state.disks.length, 'disk')} to ${run.replicaNode.description}`;
  },
  async would(run) {
    const { plan } = run;
    try {
      const failedOver = await run.store.replicaFailover(plan.name);
      if (failedOver !== undefined) return wouldFail(failedOverMessage(plan, failedOver.at, failedOver.pointId));
      if (!run.node.isLocal || !run.replicaNode.isLocal) {
        const previous = await run.store.latestCompleteReplicaPoint(plan.name);
        run.state = syncState(plan, NEW_POINT_ID, undefined, backupSource(plan.vm.source).uninspected());
        const what =
          previous === undefined
            ? 'full: the replica has no point yet'
            : `changes since point ${previous.id} if its change tracking is intact (remote nodes are not contacted in a dry run)`;
        return `${what}\nreplica on ${run.replicaNode.description}, ${plan.replica.points} point(s) kept`;
      }
      const decision = await decideSync(run, NEW_POINT_ID);
      run.state = decision.state;
      await refuseOtherPlansReplica(
        run.store,
        plan.name,
        run.replicaNode,
        decision.state.disks.map((disk) => disk.replicaPath),
      );
      const what =
        decision.state.parentId === undefined
          ? `full into a new chain${decision.whyFull ? `: ${decision.whyFull}` : ''}`
          : `changes since point ${decision.state.parentId}`;
      return [
        what,
        ...decision.notes,
        `replica on ${run.replicaNode.description}, ${plan.replica.points} point(s) kept`,
      ].join('\n');
    } catch (error) {
      run.state = syncState(plan, NEW_POINT_ID, undefined, backupSource(plan.vm.source).uninspected());
      return wouldFail(isSendenseError(error) ? error.describe() : (error as Error).message);
    }
  },
};

// Forgotten at the end unless the point is left half installed (then the next sync or doctor finishes it).
async function recordSync(run: ReplicateRun, pointId: string): Promise<void> {
  const { store } = run;
  const node = run.replicaNode.id;
  const facts: ReplicaPointFacts & Record<string, unknown> = {
    plan: run.plan.name,
    sourceType: run.plan.vm.source.type,
    nodeSpec: run.plan.replica.node ?? null,
  };
  await store.recordNodeResource({ runId: run.runId, node, kind: REPLICA_POINT_RESOURCE, name: pointId, facts });
  run.undo.push({
    what: `forget the record of sync ${pointId}`,
    when: 'always',
    step: 'resolve-sync',
    run: async () => {
      const point = await store.getReplicaPoint(pointId);
      if (point === undefined || point.status === 'complete' || point.status === 'failed')
        await store.forgetNodeResource(node, REPLICA_POINT_RESOURCE, pointId);
      else
        run.reporter.emit({
          type: 'info',
          step: 'cleanup',
          message: `the record of sync ${pointId} stays (${point.status}): the next sync or doctor finishes it`,
        });
    },
  });
}

// A failed sync is failed only once its layers are gone (create-layers' undo ran before): else it
// stays running, and doctor or the next sync removes them from its record.
async function failSync(run: ReplicateRun, state: SyncState): Promise<void> {
  const point = await run.store.getReplicaPoint(state.backupId);
  if (point === undefined || point.status !== 'running') return;
  const left = await existingFiles(
    execOn(run.replicaNode),
    state.disks.map((disk) => disk.layer),
  );
  if (left.size > 0)
    throw new SendenseError(
      `${[...left].join(', ')} still on ${run.replicaNode.description}: doctor or the next sync removes ${left.size === 1 ? 'it' : 'them'}`,
    );
  await run.store.setReplicaPointStatus(state.backupId, 'failed');
}

function failedOverMessage(plan: ReplicatePlan, at: string, pointId: string): string {
  return `the replica of ${plan.vm.name} was failed over at ${formatLocalTime(at)} (point ${pointId}): syncs are stopped so that nothing overwrites a replica in use (docs/replication.md#failover)`;
}

async function refuseFailedOver(store: Store, plan: ReplicatePlan): Promise<void> {
  const failedOver = await store.replicaFailover(plan.name);
  if (failedOver !== undefined)
    throw new SendenseError(failedOverMessage(plan, failedOver.at, failedOver.pointId), {
      step: 'resolve-sync',
      exitCode: 1,
    });
}

// replica.changes moves interfaces onto networks the replica node must have, or the failover could not start it.
async function refuseMissingNetwork(run: ReplicateRun): Promise<void> {
  if (run.plan.replica.domain === undefined) return;
  const exec = execOn(run.replicaNode);
  const virsh = virshOn(exec, run.plan.replica.uri);
  const missing = await missingNetwork(virsh, exec, run.plan.replica.changes, false, run.replicaNode.description);
  if (missing !== undefined)
    throw new SendenseError(`replica.changes.network: ${missing}`, { step: 'resolve-sync', exitCode: 1 });
}

// A replica domain someone started runs on the replica's disks: a sync would change them under it.
async function refuseRunningReplica(run: ReplicateRun): Promise<void> {
  const domain = run.plan.replica.domain;
  if (domain === undefined) return;
  const virsh = virshOn(execOn(run.replicaNode), run.plan.replica.uri);
  const state = await virsh.attempt(['domstate', domain]);
  if (state.exitCode === 0 && !/shut off/.test(state.stdout)) {
    throw new SendenseError(
      `the replica domain ${domain} on ${run.replicaNode.description} is ${state.stdout.trim()}: a sync never writes under a running replica (shut it down, or use failover)`,
      {
        step: 'resolve-sync',
        exitCode: 1,
      },
    );
  }
}

async function unusedPointId(store: Store): Promise<string> {
  for (;;) {
    const id = newBackupId();
    if ((await store.getReplicaPoint(id)) === undefined) return id;
  }
}

// Full or incremental, and the disks' jobs: the same for a run and a dry run (nothing is taken).
async function decideSync(
  run: Pick<ReplicateRun, 'plan' | 'store' | 'node' | 'replicaNode'>,
  pointId: string,
): Promise<SyncDecision> {
  const { plan, store } = run;
  const source = backupSource(plan.vm.source);
  source.checkReady();
  const latest = await store.latestCompleteReplicaPoint(plan.name);
  const missing = latest === undefined ? undefined : await missingReplicaFiles(run, latest);
  const previous = missing === undefined ? latest : undefined;
  const inspection = await source.inspect(execOn(run.node), previous === undefined ? undefined : asBackup(previous));
  const facts = inspection.disks;
  if (facts.length > 1 && !plan.replica.path.includes('{key}')) {
    throw new SendenseError(
      `replica.path ${plan.replica.path} has no {key}, but ${plan.vm.name} has ${facts.length} disks: each needs its own file`,
      { step: 'resolve-sync' },
    );
  }
  const whyFull =
    latest === undefined
      ? undefined
      : (missing ?? (previous === undefined ? undefined : whyNotContinue(source, facts, previous)));
  const parent = latest !== undefined && whyFull === undefined ? previous : undefined;
  return {
    state: { ...syncState(plan, pointId, parent, facts, latest), definition: inspection.definition },
    notes: inspection.notes,
    whyFull,
    previous: latest,
  };
}

// The replica's newest point as files on the replica node: replica.path installed, every layer there.
async function missingReplicaFiles(
  run: Pick<ReplicateRun, 'replicaNode'>,
  point: ReplicaPoint,
): Promise<string | undefined> {
  const exec = execOn(run.replicaNode);
  const present = await existingFiles(
    exec,
    point.disks.map((disk) => disk.layer),
  );
  for (const disk of point.disks) {
    if (!present.has(disk.layer))
      return `${disk.layer} of the replica's newest point ${point.id} is gone from ${run.replicaNode.description}`;
    if (!(await sameFile(exec, disk.layer, disk.path)))
      return `${disk.path} on ${run.replicaNode.description} is no longer the replica's newest point ${point.id}`;
  }
  return undefined;
}

// Why a disk cannot continue the replica's chain exactly, if one cannot (then every disk starts anew: one point in time).
function whyNotContinue(
  source: ReturnType<typeof backupSource>,
  facts: readonly SourceDiskFacts[],
  previous: ReplicaPoint,
): string | undefined {
  const backup = asBackup(previous);
  for (const fact of facts) {
    const parentDisk = backup.disks.find((disk) => disk.diskKey === fact.key);
    if (parentDisk === undefined) return `disk ${fact.key} is new since point ${previous.id}`;
    if (parentDisk.virtualSize !== fact.virtualSize)
      return `disk ${fact.key} is now ${fact.virtualSize} bytes, not ${parentDisk.virtualSize} as at point ${previous.id}`;
    const why = source.whyNotIncremental(fact, parentDisk, backup);
    if (why !== undefined) return why.replaceAll(`backup ${previous.id}`, `point ${previous.id}`);
  }
  return undefined;
}

// A replica point as the source's change-tracking rules read a backup: its id, chain and change_ids.
function asBackup(point: ReplicaPoint): Backup {
  return {
    id: point.id,
    vm: point.vm,
    plan: point.plan,
    type: point.type,
    chainId: point.chainId,
    parentId: point.parentId,
    status: 'complete',
    repository: '',
    startedAt: point.startedAt,
    completedAt: point.completedAt,
    bytes: point.bytes,
    runId: point.runId,
    verifiedAt: null,
    damage: null,
    protected: false,
    suspect: null,
    suspectClearedBy: null,
    suspectClearedAt: null,
    heldBy: null,
    disks: point.disks.map((disk) => ({
      backupId: point.id,
      diskKey: disk.diskKey,
      file: disk.layer,
      sample: null,
      virtualSize: disk.virtualSize,
      changeId: disk.changeId,
      bytes: disk.bytes,
      status: 'complete',
      source: disk.source,
      sourceNode: point.sourceNode,
      bitmap: null,
      manifest: false,
    })),
  };
}

// The sync a run makes: a full into a new chain, or the changes since `parent`. A replica's chain
// ids start with r- so its checkpoints and bitmaps never share a name with a backup chain's.
function syncState(
  plan: ReplicatePlan,
  pointId: string,
  parent: ReplicaPoint | undefined,
  facts: readonly SourceDiskFacts[],
  latest?: ReplicaPoint,
): SyncState {
  const source = backupSource(plan.vm.source);
  const chainId = parent?.chainId ?? `r-${pointId}`;
  const disks = facts.map((fact): ReplicaDiskJob => {
    const parentDisk = parent?.disks.find((disk) => disk.diskKey === fact.key);
    const replicaPath = replicaDiskPath(plan.replica.path, fact.key);
    const layer = layerFile(replicaPath, pointId);
    return {
      key: fact.key,
      source: fact.source,
      virtualSize: fact.virtualSize,
      file: layer,
      layer,
      replicaPath,
      backingLayer: parentDisk?.layer,
      fromChangeId: parentDisk?.changeId ?? undefined,
      fromSize: parentDisk?.virtualSize,
      changeId: source.newChangeId(fact, chainId, pointId),
      exportName: exportName(plan.vm.name, fact.key),
    };
  });
  return {
    backupId: pointId,
    chainId,
    type: parent === undefined ? 'full' : 'incremental',
    parentId: parent?.id,
    disks,
    // The newest point's change tracking, whether this sync continues its chain or not: no sync starts from it again.
    supersededBitmaps: latest === undefined ? [] : source.supersededBitmaps(asBackup(latest), facts),
  };
}
