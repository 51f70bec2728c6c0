// The fast path (docs/file-level-restore.md#the-fast-path): when NAME is an ext2/3/4, NTFS or FAT
// filesystem on the whole disk or a partition of an MBR or GPT table, its directory is listed, and
// its files extracted, by debugfs, ntfs-3g's tools or our sandboxed FAT walker over the point's read-only export, with no appliance. Anything else (an
// encrypted chain, LVM, another filesystem, a logical partition, a symlink among the path's
// folders, a folder to extract) answers undefined: the appliance does it.

import { chainSecret } from '../../qemu/image-opts.js';
import type { PointFile } from '../backup-point.js';
import { extractPaths, type ExtractOptions, type ExtractResult, type ExtractSource } from '../extract.js';
import type { ExtractTarget } from '../extract-target.js';
import type { GuestEntry } from '../guest-files.js';
import type { GuestPath } from '../guest-path.js';
import { ExtReader, isExtFilesystem, NotForFastPath } from './ext-reader.js';
import type { FastReader, FilesReader } from './fast-reader.js';
import { FatReader, isFatFilesystem } from './fat-reader.js';
import { isNtfsFilesystem, NtfsReader } from './ntfs-reader.js';
import { readPartitionTable, type PartitionTable } from './partition-table.js';
import { openPointExport, type PointExport } from './point-export.js';

export type { FilesReader } from './fast-reader.js';

/** A directory as the fast path listed it, and by which reader. */
export interface FastListing {
  readonly reader: Exclude<FilesReader, 'appliance'>;
  readonly entries: readonly GuestEntry[];
}

export async function fastListing(point: PointFile, where: GuestPath): Promise<FastListing | undefined> {
  return withFastPoint(point, async (readerOf) => {
    const reader = await readerOf(where.fs);
    return reader && { reader: reader.name, entries: await reader.list(where.path) };
  });
}

/** Which reader extracted (undefined: the appliance). */
export interface FastExtractResult extends ExtractResult {
  readonly readers: readonly Exclude<FilesReader, 'appliance'>[];
}

// Files and symlinks of ext2/3/4 and NTFS filesystems extracted as the appliance extracts them; a folder among
// them (or any path the fast path does not read) leaves it all to the appliance.
export async function fastExtract(
  point: PointFile,
  wanted: readonly GuestPath[],
  target: ExtractTarget,
  options: ExtractOptions,
): Promise<FastExtractResult | undefined> {
  return withFastPoint(point, async (readerOf) => {
    const stats = new Map<GuestPath, GuestEntry>();
    const readers = new Map<GuestPath, FastReader>();
    for (const where of wanted) {
      const reader = await readerOf(where.fs);
      if (reader === undefined) return undefined;
      const entry = await reader.stat(where.path);
      if (entry.type !== 'file' && entry.type !== 'symlink') return undefined;
      // More bytes than the partition holds: a sparse giant, or a crafted size read as zeros for ever.
      if (entry.size > reader.capacity) return undefined;
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
    const result = await extractPaths(source, wanted, target, options);
    return { ...result, readers: [...new Set([...readers.values()].map((reader) => reader.name))] };
  });
}

type ReaderOf = (fs: string) => Promise<FastReader | undefined>;

// The point's export open while `work` runs, with the reader of each filesystem it asks for.
async function withFastPoint<T>(point: PointFile, work: (readerOf: ReaderOf) => Promise<T | undefined>) {
  if (chainSecret(point.disk.file) !== undefined) return undefined;
  const exported = await openPointExport(point.disk.file);
  try {
    const table = await readPartitionTable(exported.read, exported.size);
    return await work((fs) => fastReaderOf(exported, table, fs, point.where));
  } catch (error) {
    if (error instanceof NotForFastPath) return undefined;
    throw error;
  } finally {
    await exported.close();
  }
}

/** The fast path's reader of filesystem `fs` (disk, p1…) of an open export; undefined: the appliance's. */
export async function fastReaderOf(
  exported: PointExport,
  table: PartitionTable,
  fs: string,
  where: string,
): Promise<FastReader | undefined> {
  const partition =
    table.kind === 'none'
      ? fs === 'disk'
        ? { offset: 0, size: exported.size }
        : undefined
      : table.partitions.find((candidate) => `p${candidate.number}` === fs);
  if (partition === undefined) return undefined;
  const read = (offset: number, length: number) => exported.read(partition.offset + offset, length);
  if (partition.size < 2048) return undefined;
  if (await isExtFilesystem(read))
    return new ExtReader(
      await exported.diskFile(),
      partition.offset,
      `${fs} of ${where}`,
      () => exported.sandbox(),
      partition.size,
    );
  if (await isNtfsFilesystem(read))
    return new NtfsReader(
      await exported.partitionFile(partition.offset, partition.size),
      `${fs} of ${where}`,
      () => exported.sandbox(),
      partition.size,
    );
  if (await isFatFilesystem(read))
    return new FatReader(
      await exported.diskFile(),
      partition.offset,
      `${fs} of ${where}`,
      () => exported.sandbox(),
      partition.size,
    );
  return undefined;
}
