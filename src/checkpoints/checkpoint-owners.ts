// Who owns each checkpoint on a domain (docs/how-it-works.md#checkpoints-on-a-domain), from the
// state database: the plan whose chain continues from it (the change_id of its newest point), a
// run taking or giving it back, nobody (orphaned: ours, but no chain starts from it), another
// state database (ours, made by a run this one does not know), or another tool (never touched).

import type { DomainCheckpoint } from '../libvirt/checkpoint-list.js';
import type { Backup, ReplicaPoint, Store } from '../store/index.js';

export type CheckpointState = 'owned' | 'orphaned' | 'run' | 'other database' | 'other tool';

export interface CheckpointOwnership extends DomainCheckpoint {
  readonly state: CheckpointState;
  /** The plan whose backup or replica point recorded it, if one still does. */
  readonly plan: string | null;
  /** That backup's repository. */
  readonly repository: string | null;
  /** That replica point's replica node. */
  readonly replica: string | null;
  /** That backup or replica point, and its chain. */
  readonly point: string | null;
  readonly chain: string | null;
  /** Why it is in this state, in one line. */
  readonly why: string;
}

/** The domain the checkpoints are on: a run's records name it so. */
export interface CheckpointPlace {
  readonly node: string;
  readonly domain: string;
}

export async function checkpointOwners(
  store: Store,
  place: CheckpointPlace,
  checkpoints: readonly DomainCheckpoint[],
): Promise<readonly CheckpointOwnership[]> {
  const records = await ownerRecords(store, place);
  const owned: CheckpointOwnership[] = [];
  for (const checkpoint of checkpoints) owned.push(Object.freeze(await ownerOf(store, records, checkpoint)));
  return Object.freeze(owned);
}

interface OwnerRecords {
  readonly backups: ReadonlyMap<string, Backup>;
  readonly points: ReadonlyMap<string, ReplicaPoint>;
  /** The point each chain continues from: a backup plan's newest complete (or damaged) point per VM and repository, a replicate plan's newest complete point. */
  readonly newest: ReadonlySet<string>;
  readonly retired: ReadonlySet<string>;
  /** Checkpoints a run recorded on this domain as it takes or gives one back, by name: the run. */
  readonly inRuns: ReadonlyMap<string, string>;
}

async function ownerRecords(store: Store, place: CheckpointPlace): Promise<OwnerRecords> {
  const backups = new Map<string, Backup>();
  const newestBackup = new Map<string, Backup>();
  for (const backup of await store.listBackups()) {
    for (const disk of backup.disks) if (disk.changeId) backups.set(disk.changeId, backup);
    if (backup.status === 'complete' || backup.status === 'damaged')
      newestBackup.set(`${backup.vm}\0${backup.repository}\0${backup.plan}`, backup);
  }
  const points = new Map<string, ReplicaPoint>();
  const newestPoint = new Map<string, ReplicaPoint>();
  for (const point of await store.listReplicaPoints()) {
    for (const disk of point.disks) if (disk.changeId) points.set(disk.changeId, point);
    if (point.status === 'complete') newestPoint.set(point.plan, point);
  }
  const inRuns = new Map<string, string>();
  for (const resource of await store.allNodeResources())
    if (resource.kind === 'checkpoint' && resource.node === place.node && resource.facts.domain === place.domain)
      inRuns.set(resource.name, resource.runId);
  return {
    backups,
    points,
    newest: new Set([...newestBackup.values(), ...newestPoint.values()].map((point) => point.id)),
    retired: new Set((await store.retiredChains()).map((chain) => chain.chainId)),
    inRuns,
  };
}

async function ownerOf(
  store: Store,
  records: OwnerRecords,
  checkpoint: DomainCheckpoint,
): Promise<CheckpointOwnership> {
  const none = { plan: null, repository: null, replica: null, point: null, chain: null };
  if (checkpoint.madeBy === undefined)
    return { ...checkpoint, ...none, state: 'other tool', why: 'not made by sendense-run: never touched' };
  const run = records.inRuns.get(checkpoint.name);
  if (run !== undefined)
    return {
      ...checkpoint,
      ...none,
      state: 'run',
      why: `run ${run} is taking or giving it back (doctor's to give back if that run died)`,
    };
  const backup = records.backups.get(checkpoint.name);
  if (backup !== undefined) {
    const of = {
      plan: backup.plan,
      repository: backup.repository,
      replica: null,
      point: backup.id,
      chain: backup.chainId,
    };
    return { ...checkpoint, ...of, ...judge(records, backup, `backup ${backup.id}`) };
  }
  const point = records.points.get(checkpoint.name);
  if (point !== undefined) {
    const of = {
      plan: point.plan,
      repository: null,
      replica: point.replicaNode,
      point: point.id,
      chain: point.chainId,
    };
    return { ...checkpoint, ...of, ...judge(records, point, `replica point ${point.id}`) };
  }
  // Made by a run this database never recorded: another hub's own database may still need it.
  const runId = checkpoint.madeBy.runId;
  if (runId !== null && (await store.getRun(runId)) === undefined)
    return {
      ...checkpoint,
      ...none,
      state: 'other database',
      why: `made by run ${runId}, which this state database does not know (another hub's?): never touched`,
    };
  return {
    ...checkpoint,
    ...none,
    state: 'orphaned',
    why: 'no backup or replica point records it any more (forgotten, removed or never completed)',
  };
}

function judge(
  records: OwnerRecords,
  point: Backup | ReplicaPoint,
  what: string,
): { readonly state: CheckpointState; readonly why: string } {
  if (point.status === 'running' || point.status === 'installing')
    return { state: 'run', why: `${what} is being taken by run ${point.runId}` };
  if (records.retired.has(point.chainId))
    return { state: 'orphaned', why: `chain ${point.chainId} was retired: nothing continues from it` };
  if (records.newest.has(point.id))
    return { state: 'owned', why: `the next run of plan ${point.plan} continues chain ${point.chainId} from ${what}` };
  return {
    state: 'orphaned',
    why: `${what} (${point.status}) is not the newest point of plan ${point.plan}: nothing continues from it`,
  };
}
