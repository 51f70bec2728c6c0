// What a listing shows of a layer, read from its file (docs/how-it-works.md#what-a-listing-reads):
// read when the layer is written, merged, verified or moved, and recorded, so a listing opens no file.

import path from 'node:path';
import { qcow2HeaderProblem, readBacking } from '../qemu/qcow2-header.js';
import type { Backup, LayerFacts, Store } from '../store/index.js';
import { fileDiskUsage } from './disk-usage.js';
import { encryptedRepositoryOf } from './repository-keys.js';

/** Whether a file lies in an encrypted repository, looked up once per directory. */
export function encryptedDirectories(): (file: string) => boolean {
  const known = new Map<string, boolean>();
  return (file) => {
    const directory = path.dirname(path.resolve(file));
    if (!known.has(directory)) known.set(directory, encryptedRepositoryOf(file) !== undefined);
    return known.get(directory)!;
  };
}

/** One layer's facts as its file says them now: a stat and one read of its header's first cluster. */
export function readLayerFacts(file: string, encryptedIn: (file: string) => boolean): LayerFacts {
  const headerProblem = qcow2HeaderProblem(file) ?? null;
  return {
    onDiskBytes: fileDiskUsage(file),
    encrypted: encryptedIn(file),
    backing: headerProblem === null ? (readBacking(file)?.name ?? null) : null,
    headerProblem,
  };
}

/** Reads and records the facts of every disk of these points (a point still running is left out: its files grow). */
export async function recordPointFacts(store: Store, points: readonly Backup[]): Promise<void> {
  const encryptedIn = encryptedDirectories();
  await store.recordLayerFacts(
    points
      .filter((point) => point.status !== 'running')
      .flatMap((point) =>
        point.disks.map((disk) => ({
          backupId: point.id,
          diskKey: disk.diskKey,
          ...readLayerFacts(disk.file, encryptedIn),
        })),
      ),
  );
}
