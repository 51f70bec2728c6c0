// A disk with no filesystem said without the appliance (docs/file-level-restore.md#the-fast-path):
// our partition table reader finds the partitions, and blkid's low-level probe (-p, run in the
// sandbox like debugfs) looks at each, or at the whole disk when there is no table. Only when
// nothing at all is found (no filesystem, no LVM, no LUKS, no swap, no table blkid knows) is the
// disk called empty; anything else, or a table with logical partitions, is the appliance's to judge.

import { chainSecret } from '../../qemu/image-opts.js';
import type { PointFile } from '../backup-point.js';
import { readPartitionTable } from './partition-table.js';
import { openPointExport } from './point-export.js';
import { runSandboxed } from './sandbox.js';

const PROBE_TIMEOUT_MS = 20_000;
// blkid: 2 when nothing was found.
const NOTHING_FOUND = 2;

/** The partition table's name ('gpt', 'msdos', 'none') when the disk holds nothing readable, else undefined. */
export async function emptyDiskTable(point: PointFile): Promise<string | undefined> {
  if (chainSecret(point.disk.file) !== undefined) return undefined;
  const exported = await openPointExport(point.disk.file);
  try {
    const table = await readPartitionTable(exported.read, exported.size);
    if (table.hasLogical) return undefined;
    const regions = table.kind === 'none' ? [{ offset: 0, size: exported.size }] : table.partitions;
    const diskFile = await exported.diskFile();
    for (const region of regions) {
      const probe = await runSandboxed(
        ['blkid', '-p', '-o', 'export', '-O', String(region.offset), '-S', String(region.size), diskFile],
        {
          sandbox: exported.sandbox(),
          answers: [0, NOTHING_FOUND],
          timeoutMs: PROBE_TIMEOUT_MS,
          maxBytes: 64 * 1024,
          what: `blkid probing ${point.where}`,
        },
      );
      if (probe.exitCode !== NOTHING_FOUND) return undefined;
    }
    return table.kind;
  } finally {
    await exported.close();
  }
}
