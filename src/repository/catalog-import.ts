// Rebuilds the database's view of a repository from its manifests (docs/how-it-works.md#verification): every complete
// backup the database does not know is recorded again, parents first, with the files where they
// are now (a repository may have moved: overlays name their backing files relatively). A known
// backup whose recorded files are all gone while its manifests' files are here was moved with its
// repository: its records are pointed at the files here.

import { existsSync } from 'node:fs';
import path from 'node:path';
import type { ImportedBackup, Store } from '../store/index.js';
import type { FoundManifest } from './manifest-scan.js';
import { manifestsByName, scanManifests } from './manifest-scan.js';
import { readManifest } from './manifest-file.js';
import { isSendenseError } from '../errors.js';
import { qcow2HeaderProblem } from '../qemu/qcow2-header.js';
import { backingProblem } from './chain-files.js';
import { protectionMarkerFile } from './layout.js';
import { recordPointFacts } from './layer-facts.js';
import { takingOrder } from '../retention/taking-order.js';

export interface ImportOutcome {
  readonly imported: readonly ImportedBackup[];
  readonly known: readonly string[];
  /** Known backups whose files moved here (their records now name these files). */
  readonly relocated: readonly string[];
  /** Backups left out, and why. */
  readonly skipped: readonly { readonly backupId: string; readonly reason: string }[];
  readonly problems: readonly string[];
}

export async function importCatalog(store: Store, repository: string, runId: string): Promise<ImportOutcome> {
  const scan = await scanManifests(repository);
  const byBackup = new Map<string, FoundManifest[]>();
  for (const found of scan.found)
    byBackup.set(found.manifest.backupId, [...(byBackup.get(found.manifest.backupId) ?? []), found]);
  const imported: ImportedBackup[] = [];
  const known: string[] = [];
  const relocated: string[] = [];
  const skipped: { backupId: string; reason: string }[] = [];
  for (const [backupId, disks] of parentsFirst(byBackup)) {
    const first = disks[0]!.manifest;
    const recorded = await store.getBackup(backupId);
    if (recorded !== undefined) {
      const here = disks.map(({ path: file, manifest }) => ({
        diskKey: manifest.diskKey,
        file: path.join(path.dirname(file), manifest.file),
      }));
      const moved =
        recorded.disks.length > 0 &&
        recorded.disks.every((disk) => !existsSync(disk.file)) &&
        recorded.disks.every((disk) => here.some((found) => found.diskKey === disk.diskKey && existsSync(found.file)));
      if (moved) {
        await store.relocateBackup(
          backupId,
          repository,
          here.filter((found) => recorded.disks.some((disk) => disk.diskKey === found.diskKey)),
        );
        relocated.push(backupId);
      } else known.push(backupId);
      continue;
    }
    const why = scan.refused.has(backupId) ? 'one of its manifests is refused' : await whyNotImported(store, disks);
    if (why !== undefined) {
      skipped.push({ backupId, reason: why });
      continue;
    }
    const backup: ImportedBackup = {
      id: backupId,
      vm: first.vm,
      plan: first.plan,
      type: first.type,
      chainId: first.chainId,
      parentId: first.parentId,
      repository,
      startedAt: first.startedAt,
      completedAt: first.completedAt,
      runId,
      disks: disks
        .map(({ path: file, manifest }) => ({
          diskKey: manifest.diskKey,
          file: path.join(path.dirname(file), manifest.file),
          virtualSize: manifest.virtualSize,
          changeId: manifest.changeId,
          bytes: manifest.bytes,
          source: manifest.source,
          sourceNode: manifest.sourceNode,
          bitmap: manifest.bitmap,
          sample: manifest.sample ?? null,
        }))
        .sort((a, b) => a.diskKey - b.diskKey),
    };
    try {
      await store.importBackup(backup);
    } catch (error) {
      // Disaster recovery imports what it can: one backup the database refuses is reported, not fatal.
      skipped.push({ backupId, reason: `the database refused it (${(error as Error).message.split('\n')[0]})` });
      continue;
    }
    if (existsSync(protectionMarkerFile(repository, backup.vm, backup.id))) await store.setProtected(backup.id, true);
    imported.push(backup);
  }
  // What listings show of the files found here (docs/how-it-works.md#what-a-listing-reads).
  for (const id of [...relocated, ...imported.map((backup) => backup.id)]) {
    const point = await store.getBackup(id);
    if (point !== undefined) await recordPointFacts(store, [point]);
  }
  return { imported, known, relocated, skipped, problems: scan.problems };
}

// Why a backup's manifests cannot be recorded: they disagree with each other, a file is missing or
// linked to another parent than its manifest names, or the parent is not a complete backup of the
// same VM and chain.
async function whyNotImported(store: Store, disks: readonly FoundManifest[]): Promise<string | undefined> {
  const first = disks[0]!.manifest;
  const disagreeing = disks.find(({ manifest }) =>
    (['vm', 'type', 'chainId', 'parentId', 'startedAt'] as const).some((field) => manifest[field] !== first[field]),
  );
  if (disagreeing !== undefined) return `its manifests disagree (${disks[0]!.path} and ${disagreeing.path})`;
  for (const { path: manifestFile, manifest } of disks) {
    const file = path.join(path.dirname(manifestFile), manifest.file);
    if (!existsSync(file)) return `its file ${file} is missing`;
    const parentFile =
      manifest.parentFile === null ? undefined : path.join(path.dirname(manifestFile), manifest.parentFile);
    const link = qcow2HeaderProblem(file) === undefined ? backingProblem(file, parentFile) : undefined;
    if (link !== undefined) return `its file ${file} is not linked to the parent its manifest names: ${link}`;
  }
  if (first.parentId === null) return undefined;
  const parent = await store.getBackup(first.parentId);
  if (parent?.status !== 'complete')
    return `its parent ${first.parentId} is ${parent === undefined ? 'not in the repository' : parent.status}`;
  if (parent.vm !== first.vm || parent.chainId !== first.chainId)
    return `its parent ${first.parentId} belongs to VM ${parent.vm}, chain ${parent.chainId}, not VM ${first.vm}, chain ${first.chainId}`;
  return undefined;
}

// A parent before what stands on it, then by the time each was taken.
function parentsFirst(byBackup: ReadonlyMap<string, readonly FoundManifest[]>): [string, readonly FoundManifest[]][] {
  const points = [...byBackup.entries()].map(([id, disks]) => ({
    id,
    parentId: disks[0]!.manifest.parentId,
    startedAt: disks[0]!.manifest.startedAt,
    entry: [id, disks] as [string, readonly FoundManifest[]],
  }));
  return takingOrder(points).map((point) => point.entry);
}

// Backups of `vm` in the repository that the database does not know (a lost or other database).
// By file name against the database's list; only a name the database does not know is read, to be
// sure it is a manifest: a run does this every time, in a repository of any size.
export async function unknownBackups(store: Store, repository: string, vm: string): Promise<readonly string[]> {
  const named = await manifestsByName(repository, vm);
  if (named.length === 0) return [];
  const known = new Set((await store.listBackups({ vm })).map((backup) => backup.id));
  // Oldest first (ids order by the second only).
  const unknown = new Map<string, string>();
  for (const { backupId, path: file } of named) {
    if (known.has(backupId) || unknown.has(backupId)) continue;
    const manifest = await readManifest(file).catch((error: unknown) => {
      if (isSendenseError(error)) return undefined; // not a manifest: catalog import reports it
      throw error;
    });
    if (manifest !== undefined && !known.has(manifest.backupId)) unknown.set(manifest.backupId, manifest.startedAt);
  }
  return [...unknown.entries()].sort(([a, x], [b, y]) => x.localeCompare(y) || a.localeCompare(b)).map(([id]) => id);
}
