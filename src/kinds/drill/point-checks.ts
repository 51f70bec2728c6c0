// The checks that read the point itself, not the guest (docs/drills.md#checks): files (paths that
// must exist, in any filesystem the files fast path reads: ext2/3/4, NTFS, FAT) and fsck (every
// ext2/3/4 filesystem checked read-only by e2fsck -n). Both read the
// point's disks as the files fast path does (src/files/fast): a read-only qemu-nbd of the chain,
// nbdfuse, the readers sandboxed; nothing boots and nothing of the point is written. A replica's
// point is read the same way, its layer being the chain's top, when its node is this host.

import { SendenseError } from '../../errors.js';
import { isExtFilesystem, NotForFastPath } from '../../files/fast/ext-reader.js';
import { fastReaderOf } from '../../files/fast/fast-listing.js';
import { readPartitionTable, type PartitionTable } from '../../files/fast/partition-table.js';
import { openPointExport, type PointExport } from '../../files/fast/point-export.js';
import { runSandboxed } from '../../files/fast/sandbox.js';
import { chainSecret } from '../../qemu/image-opts.js';
import type { DrillCheck } from '../../plan/types.js';
import type { DrillDisk, DrillRun } from './drill-run.js';

/** A filesystem's place on the point: its disk, its name as `files` names it (disk, p1…), where it starts. */
interface PointPartition {
  readonly disk: Pick<DrillDisk, 'key' | 'file'>;
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly exported: PointExport;
  readonly table: PartitionTable;
}

// Each disk's export opened, its partitions (or the whole disk) found, `use` run on them; every export closed after.
async function withPartitions<T>(
  run: Pick<DrillRun, 'state' | 'node'>,
  use: (found: readonly PointPartition[]) => Promise<T>,
): Promise<T> {
  const opened: PointExport[] = [];
  try {
    const found: PointPartition[] = [];
    if (run.state.replica !== undefined && !run.node.isLocal)
      throw new SendenseError(
        `the replica's point is on ${run.node.description}: this check reads a point on the hub's host only so far`,
      );
    for (const disk of run.state.disks) {
      if (chainSecret(disk.file) !== undefined)
        throw new SendenseError(`disk ${disk.key} is encrypted: the drill's readers do not open encrypted points yet`);
      const exported = await openPointExport(disk.file);
      opened.push(exported);
      const table = await readPartitionTable(exported.read, exported.size);
      const candidates =
        table.kind === 'none'
          ? [{ name: 'disk', offset: 0, size: exported.size }]
          : table.partitions.map((partition) => ({ name: `p${partition.number}`, ...partition }));
      for (const candidate of candidates)
        if (candidate.size >= 2048) found.push({ disk, exported, table, ...candidate });
    }
    return await use(found);
  } finally {
    for (const exported of opened) await exported.close().catch(() => undefined);
  }
}

// Paths looked for in every filesystem the files fast path reads (ext2/3/4, NTFS, FAT), by its readers.
export async function filesCheck(
  run: Pick<DrillRun, 'state' | 'node'>,
  check: Extract<DrillCheck, { type: 'files' }>,
): Promise<string> {
  return withPartitions(run, async (partitions) => {
    const found = [];
    for (const partition of partitions) {
      const what = `disk ${partition.disk.key}`;
      const reader = await fastReaderOf(partition.exported, partition.table, partition.name, what);
      if (reader !== undefined) found.push({ ...partition, reader });
    }
    const missing: string[] = [];
    const seen: string[] = [];
    for (const wanted of check.exists) {
      const colon = wanted.indexOf(':');
      const [name, inside] = colon > 0 ? [wanted.slice(0, colon), wanted.slice(colon + 1)] : [undefined, wanted];
      const where = found.filter((fs) => name === undefined || fs.name === name);
      let at: string | undefined;
      for (const fs of where) {
        try {
          await fs.reader.list(inside);
          at = `${fs.name}:${inside} (disk ${fs.disk.key})`;
          break;
        } catch (error) {
          // Not there, or not for the fast path (a symlink among its folders): looked for elsewhere.
          if (!(error instanceof SendenseError) && !(error instanceof NotForFastPath)) throw error;
        }
      }
      if (at === undefined) missing.push(wanted);
      else seen.push(at);
    }
    if (missing.length > 0)
      throw new SendenseError(
        `not in the point: ${missing.join(', ')} (filesystems looked in: ${found.map((fs) => `${fs.name} of disk ${fs.disk.key} (${fs.reader.name})`).join(', ') || 'none found'})`,
      );
    return `found ${seen.join(', ')}`;
  });
}

export async function fsckCheck(run: DrillRun, check: Extract<DrillCheck, { type: 'fsck' }>): Promise<string> {
  return withPartitions(run, async (partitions) => {
    const found = [];
    for (const partition of partitions) {
      const read = (offset: number, length: number) => partition.exported.read(partition.offset + offset, length);
      if (await isExtFilesystem(read)) found.push({ ...partition, diskFile: await partition.exported.diskFile() });
    }
    if (found.length === 0) throw new SendenseError("no ext2/3/4 filesystem found on the point's disks to check");
    const until = Date.now() + check.timeout * 1000;
    const clean: string[] = [];
    for (const fs of found) {
      const what = `${fs.name} of disk ${fs.disk.key}`;
      const left = Math.max(1000, until - Date.now());
      try {
        await runSandboxed(['e2fsck', '-n', '-f', `${fs.diskFile}?offset=${fs.offset}`], {
          sandbox: fs.exported.sandbox(),
          timeoutMs: left,
          maxBytes: 4 * 1024 * 1024,
          what: `e2fsck -n of ${what}`,
        });
      } catch (error) {
        throw new SendenseError(
          `${what}: ${(error as Error).message.replaceAll(fs.diskFile, 'the disk').slice(0, 400)}`,
        );
      }
      clean.push(what);
    }
    return `clean: ${clean.join(', ')}`;
  });
}
