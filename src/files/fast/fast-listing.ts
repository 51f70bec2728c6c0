// The fast path of a directory listing (docs/file-level-restore.md#the-fast-path): when NAME is an
// ext2/3/4 filesystem on the whole disk or a partition of an MBR or GPT table, its directory is
// listed by debugfs over the point's read-only export, with no appliance. Anything else (an
// encrypted chain, LVM, another filesystem, a logical partition, a symlink among the path's folders)
// answers undefined: the appliance does it.

import { chainSecret } from '../../qemu/image-opts.js';
import type { PointFile } from '../backup-point.js';
import type { GuestEntry } from '../guest-files.js';
import type { GuestPath } from '../guest-path.js';
import { ExtReader, isExtFilesystem, NotForFastPath } from './ext-reader.js';
import { readPartitionTable } from './partition-table.js';
import { openPointExport } from './point-export.js';

/** Which reader listed a filesystem (said in --json). */
export type FilesReader = 'debugfs' | 'appliance';

export async function fastListing(point: PointFile, where: GuestPath): Promise<readonly GuestEntry[] | undefined> {
  if (chainSecret(point.disk.file) !== undefined) return undefined;
  const exported = await openPointExport(point.disk.file);
  try {
    const table = await readPartitionTable(exported.read, exported.size);
    const partition =
      table.kind === 'none'
        ? where.fs === 'disk'
          ? { offset: 0, size: exported.size }
          : undefined
        : table.partitions.find((candidate) => `p${candidate.number}` === where.fs);
    if (partition === undefined) return undefined;
    const read = (offset: number, length: number) => exported.read(partition.offset + offset, length);
    if (partition.size < 2048 || !(await isExtFilesystem(read))) return undefined;
    const reader = new ExtReader(await exported.diskFile(), partition.offset, `${where.fs} of ${point.where}`, () =>
      exported.sandbox(),
    );
    try {
      return await reader.list(where.path);
    } catch (error) {
      if (error instanceof NotForFastPath) return undefined;
      throw error;
    }
  } finally {
    await exported.close();
  }
}
