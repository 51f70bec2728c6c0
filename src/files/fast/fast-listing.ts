// The fast path (docs/file-level-restore.md#the-fast-path): when NAME is an ext2/3/4 filesystem on
// the whole disk or a partition of an MBR or GPT table, its directory is listed, and its files
// extracted, by debugfs over the point's read-only export, with no appliance. Anything else (an
// encrypted chain, LVM, another filesystem, a logical partition, a symlink among the path's
// folders, a folder to extract) answers undefined: the appliance does it.

import { chainSecret } from '../../qemu/image-opts.js';
import type { PointFile } from '../backup-point.js';
import { extractPaths, type ExtractOptions, type ExtractResult, type ExtractSource } from '../extract.js';
import type { ExtractTarget } from '../extract-target.js';
import type { GuestEntry } from '../guest-files.js';
import type { GuestPath } from '../guest-path.js';
import { ExtReader, isExtFilesystem, NotForFastPath } from './ext-reader.js';
import { readPartitionTable, type PartitionTable } from './partition-table.js';
import { openPointExport, type PointExport } from './point-export.js';

/** Which reader listed a filesystem (said in --json). */
export type FilesReader = 'debugfs' | 'appliance';

export async function fastListing(point: PointFile, where: GuestPath): Promise<readonly GuestEntry[] | undefined> {
  return withFastPoint(point, async (readerOf) => {
    const reader = await readerOf(where.fs);
    return reader && (await reader.list(where.path));
  });
}

// Files and symlinks of ext2/3/4 filesystems extracted as the appliance extracts them; a folder among
// them (or any path the fast path does not read) leaves it all to the appliance.
export async function fastExtract(
  point: PointFile,
  wanted: readonly GuestPath[],
  target: ExtractTarget,
  options: ExtractOptions,
): Promise<ExtractResult | undefined> {
  return withFastPoint(point, async (readerOf) => {
    const stats = new Map<GuestPath, GuestEntry>();
    const readers = new Map<GuestPath, ExtReader>();
    for (const where of wanted) {
      const reader = await readerOf(where.fs);
      if (reader === undefined) return undefined;
      const entry = await reader.stat(where.path);
      if (entry.type !== 'file' && entry.type !== 'symlink') return undefined;
      stats.set(where, entry);
      readers.set(where, reader);
    }
    const source: ExtractSource = {
      where: point.where,
      stat: async (where) => stats.get(where)!,
      use: async () => {},
      folderTar: () => Promise.reject(new NotForFastPath()),
      fileBytes: (where, _dir, read) => readers.get(where)!.fileBytes(where.path, read),
    };
    return extractPaths(source, wanted, target, options);
  });
}

type ReaderOf = (fs: string) => Promise<ExtReader | undefined>;

// The point's export open while `work` runs, with the reader of each ext filesystem it asks for.
async function withFastPoint<T>(point: PointFile, work: (readerOf: ReaderOf) => Promise<T | undefined>) {
  if (chainSecret(point.disk.file) !== undefined) return undefined;
  const exported = await openPointExport(point.disk.file);
  try {
    const table = await readPartitionTable(exported.read, exported.size);
    return await work((fs) => extReaderOf(exported, table, fs, point.where));
  } catch (error) {
    if (error instanceof NotForFastPath) return undefined;
    throw error;
  } finally {
    await exported.close();
  }
}

async function extReaderOf(
  exported: PointExport,
  table: PartitionTable,
  fs: string,
  where: string,
): Promise<ExtReader | undefined> {
  const partition =
    table.kind === 'none'
      ? fs === 'disk'
        ? { offset: 0, size: exported.size }
        : undefined
      : table.partitions.find((candidate) => `p${candidate.number}` === fs);
  if (partition === undefined) return undefined;
  const read = (offset: number, length: number) => exported.read(partition.offset + offset, length);
  if (partition.size < 2048 || !(await isExtFilesystem(read))) return undefined;
  return new ExtReader(await exported.diskFile(), partition.offset, `${fs} of ${where}`, () => exported.sandbox());
}
