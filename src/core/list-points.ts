// The backup points of one VM or all, oldest first (docs/api.md#backups): each with its disks and the
// space they take, whether it is in an encrypted repository and whether it can be restored, or why
// not. `backups --json` prints one per line; GET /api/v1/backups answers them.

import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { qcow2HeaderProblem } from '../qemu/qcow2-header.js';
import { fileDiskUsage } from '../repository/disk-usage.js';
import { encryptedRepositoryOf } from '../repository/repository-keys.js';
import type { Backup, Store } from '../store/index.js';
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
  const backups = await store.listBackups({ vm: input.vm });
  const restorability = restorabilityOf(backups);
  const encryptedIn = encryptedDirectories();
  return backups.map((backup) => {
    const notRestorable = restorability(backup);
    const disks = backup.disks.map((disk) => ({ ...disk, onDiskBytes: fileDiskUsage(disk.file) }));
    // Key order as `backups --json` always printed it: the record's, then what is added.
    return {
      ...backup,
      disks,
      onDiskBytes: sumOfKnown(disks.map((disk) => disk.onDiskBytes)),
      encrypted: backup.disks.some((disk) => encryptedIn(disk.file)),
      restorable: notRestorable === undefined,
      notRestorableBecause: notRestorable,
    };
  });
}

// The sum of the sizes known; null when none is.
function sumOfKnown(values: readonly (number | null)[]): number | null {
  const sizes = values.filter((size): size is number => size !== null);
  return sizes.length === 0 ? null : sizes.reduce((a, b) => a + b, 0);
}

// Undefined when restorable, else why not; each file's header is read once and each point judged
// once as a parent (a VM may have 10,000s of points in chains of hundreds).
function restorabilityOf(backups: readonly Backup[]): (backup: Backup) => string | undefined {
  const byId = new Map(backups.map((backup) => [backup.id, backup]));
  const headers = new Map<string, string | undefined>();
  // Missing, unreadable or with a destroyed header: one read of 104 bytes per file.
  const headerProblem = (file: string) => {
    if (!headers.has(file)) headers.set(file, qcow2HeaderProblem(file));
    return headers.get(file);
  };
  // What this point's own files and record say: the walk's step, as the point itself or as a parent.
  const step = (current: Backup, self: boolean): string | undefined => {
    if (current.status === 'damaged' && self) return `damaged (${current.damage ?? 'found by verify'})`;
    if (current.status !== 'complete')
      return self ? `status ${current.status}` : `parent ${current.id} is ${current.status}`;
    for (const disk of current.disks) {
      const problem = headerProblem(disk.file);
      if (problem !== undefined) return problem;
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

// Whether a file lies in an encrypted repository, looked up once per directory.
function encryptedDirectories(): (file: string) => boolean {
  const known = new Map<string, boolean>();
  return (file) => {
    const directory = path.dirname(path.resolve(file));
    if (!known.has(directory)) known.set(directory, encryptedRepositoryOf(file) !== undefined);
    return known.get(directory)!;
  };
}
