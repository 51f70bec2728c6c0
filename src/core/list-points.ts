// The backup points of one VM or all, oldest first (docs/api.md#backups): each with its disks and the
// space they take, whether it is in an encrypted repository and whether it can be restored, or why
// not. `backups --json` prints one per line; GET /api/v1/backups answers them. What it says of the
// files is what was recorded of them (docs/how-it-works.md#what-a-listing-reads): no file is opened,
// but a layer recorded before 026 (or changed since) is read once and recorded.

import { Type, type Static } from '@sinclair/typebox';
import { encryptedDirectories, readLayerFacts } from '../repository/layer-facts.js';
import type { Backup, BackupDisk, LayerFacts, RecordedLayerFacts, Store } from '../store/index.js';
import { BackupStatusSchema, BackupTypeSchema, Nullable } from './schema-types.js';

export const ListPointsInput = Type.Object(
  { vm: Type.Optional(Type.String({ minLength: 1, description: 'only this VM' })) },
  { additionalProperties: false },
);
export type ListPointsInput = Static<typeof ListPointsInput>;

export const ListedPointDisk = Type.Object(
  {
    backupId: Type.String(),
    diskKey: Type.Integer(),
    file: Type.String(),
    virtualSize: Type.Integer(),
    changeId: Nullable(Type.String()),
    bytes: Nullable(Type.Integer()),
    status: BackupStatusSchema,
    source: Type.String(),
    sourceNode: Type.String(),
    bitmap: Nullable(Type.String()),
    manifest: Type.Boolean(),
    onDiskBytes: Nullable(Type.Integer({ description: 'space its file takes; null when it is not there' })),
    sample: Nullable(
      Type.Object(
        { sampledBlocks: Type.Integer(), incompressibleBlocks: Type.Integer() },
        { additionalProperties: false, description: 'how random the copied data was (docs/anomaly.md)' },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ListedPoint = Type.Object(
  {
    id: Type.String(),
    vm: Type.String(),
    plan: Type.String(),
    type: BackupTypeSchema,
    chainId: Type.String(),
    parentId: Nullable(Type.String()),
    status: BackupStatusSchema,
    repository: Type.String(),
    startedAt: Type.String(),
    completedAt: Nullable(Type.String()),
    bytes: Nullable(Type.Integer({ description: 'copied' })),
    runId: Type.String(),
    verifiedAt: Nullable(Type.String()),
    damage: Nullable(Type.String()),
    protected: Type.Boolean(),
    suspect: Nullable(Type.String({ description: 'why the point is suspect, in numbers (docs/anomaly.md)' })),
    suspectClearedBy: Nullable(Type.String({ description: 'who cleared the suspect mark (`clear`)' })),
    suspectClearedAt: Nullable(Type.String()),
    heldBy: Nullable(Type.String({ description: 'the suspect point that keeps this clean point' })),
    disks: Type.Array(ListedPointDisk),
    onDiskBytes: Nullable(Type.Integer({ description: "space its own files take (not their chain's)" })),
    encrypted: Type.Boolean(),
    restorable: Type.Boolean(),
    notRestorableBecause: Type.Optional(Type.String({ description: 'absent when restorable' })),
  },
  { additionalProperties: false, description: 'a point as `backups --json` prints it (docs/json-events.md)' },
);
export type ListedPoint = Static<typeof ListedPoint>;

export async function listPoints(store: Store, input: ListPointsInput): Promise<ListedPoint[]> {
  const { backups, facts: recorded } = await store.listBackupsWithFacts({ vm: input.vm });
  const factsOf = await withUnrecorded(store, backups, recorded);
  const restorability = restorabilityOf(backups, factsOf);
  return backups.map((backup) => {
    const notRestorable = restorability(backup);
    const facts = backup.disks.map((disk) => factsOf(backup, disk));
    const disks = backup.disks.map((disk, index) => ({ ...disk, onDiskBytes: facts[index]!.onDiskBytes }));
    // Key order as `backups --json` always printed it: the record's, then what is added.
    return {
      ...backup,
      disks,
      onDiskBytes: sumOfKnown(disks.map((disk) => disk.onDiskBytes)),
      encrypted: facts.some((layer) => layer.encrypted),
      restorable: notRestorable === undefined,
      notRestorableBecause: notRestorable,
    };
  });
}

type FactsOf = (backup: Backup, disk: BackupDisk) => LayerFacts;

// Each layer's recorded facts; one not recorded yet is read from its file now and recorded (a
// running point's files grow: read, never recorded).
async function withUnrecorded(
  store: Store,
  backups: readonly Backup[],
  facts: readonly RecordedLayerFacts[],
): Promise<FactsOf> {
  const key = (backupId: string, diskKey: number) => `${backupId}/${diskKey}`;
  const recorded = new Map<string, LayerFacts>(facts.map((layer) => [key(layer.backupId, layer.diskKey), layer]));
  const encryptedIn = encryptedDirectories();
  const unrecorded: Omit<RecordedLayerFacts, 'recordedAt'>[] = [];
  for (const backup of backups)
    for (const disk of backup.disks) {
      if (recorded.has(key(backup.id, disk.diskKey))) continue;
      const facts = readLayerFacts(disk.file, encryptedIn);
      recorded.set(key(backup.id, disk.diskKey), facts);
      if (backup.status !== 'running') unrecorded.push({ backupId: backup.id, diskKey: disk.diskKey, ...facts });
    }
  // A state this user may only read still lists (read again next time).
  if (unrecorded.length > 0) await store.recordLayerFacts(unrecorded).catch(() => undefined);
  return (backup, disk) => recorded.get(key(backup.id, disk.diskKey))!;
}

// The sum of the sizes known; null when none is.
function sumOfKnown(values: readonly (number | null)[]): number | null {
  const sizes = values.filter((size): size is number => size !== null);
  return sizes.length === 0 ? null : sizes.reduce((a, b) => a + b, 0);
}

// Undefined when restorable, else why not, by the recorded facts; each point judged once as a
// parent (a VM may have 10,000s of points in chains of hundreds).
function restorabilityOf(backups: readonly Backup[], factsOf: FactsOf): (backup: Backup) => string | undefined {
  const byId = new Map(backups.map((backup) => [backup.id, backup]));
  // What this point's own files and record say: the walk's step, as the point itself or as a parent.
  const step = (current: Backup, self: boolean): string | undefined => {
    if (current.status === 'damaged' && self) return `damaged (${current.damage ?? 'found by verify'})`;
    if (current.status !== 'complete')
      return self ? `status ${current.status}` : `parent ${current.id} is ${current.status}`;
    for (const disk of current.disks) {
      const problem = factsOf(current, disk).headerProblem;
      if (problem !== null) return problem;
    }
    if (current.parentId && !byId.has(current.parentId)) return `parent ${current.parentId} is not recorded`;
    return undefined;
  };
  // A parent's verdict (the walk from it up to the full): the same for every point above it.
  const asParent = new Map<string, string | undefined>();
  const parentVerdict = (first: Backup): string | undefined => {
    const walked: Backup[] = [];
    let verdict: string | undefined;
    for (
      let current: Backup | undefined = first;
      current;
      current = current.parentId ? byId.get(current.parentId) : undefined
    ) {
      if (asParent.has(current.id)) {
        verdict = asParent.get(current.id);
        break;
      }
      walked.push(current);
      verdict = step(current, false);
      if (verdict !== undefined) break;
    }
    // Every point walked shares the verdict found at or above it (all above it were sound).
    for (const point of walked) asParent.set(point.id, verdict);
    return verdict;
  };
  return (backup) => {
    const own = step(backup, true);
    if (own !== undefined) return own;
    const parent = backup.parentId ? byId.get(backup.parentId) : undefined;
    return parent === undefined ? undefined : parentVerdict(parent);
  };
}
