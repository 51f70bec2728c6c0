// The checks that read the point itself, not the guest (docs/drills.md#checks): files (paths that
// must exist) and fsck (every ext2/3/4 filesystem checked read-only by e2fsck -n). Both read the
// point's disks as the files fast path does (src/files/fast): a read-only qemu-nbd of the chain,
// nbdfuse, the readers sandboxed; nothing boots and nothing of the point is written. A replica's
// point is read the same way, its layer being the chain's top, when its node is this host.

import { SendenseError } from '../../errors.js';
import { ExtReader, isExtFilesystem } from '../../files/fast/ext-reader.js';
import { readPartitionTable } from '../../files/fast/partition-table.js';
import { openPointExport, type PointExport } from '../../files/fast/point-export.js';
import { runSandboxed, type ReaderSandbox } from '../../files/fast/sandbox.js';
import { chainSecret } from '../../qemu/image-opts.js';
import type { DrillCheck } from '../../plan/types.js';
import type { DrillDisk, DrillRun } from './drill-run.js';

/** An ext2/3/4 filesystem of the point: its disk, its name as `files` names it (disk, p1…), where it starts. */
interface PointFilesystem {
  readonly disk: DrillDisk;
  readonly name: string;
  readonly offset: number;
  readonly reader: ExtReader;
  readonly diskFile: string;
  /** How the point's readers run (its own uid, its mount namespace). */
  readonly sandbox: () => ReaderSandbox;
}

// Each disk's export opened, its ext filesystems found, `use` run on them; every export closed after.
async function withFilesystems<T>(run: DrillRun, use: (found: readonly PointFilesystem[]) => Promise<T>): Promise<T> {
  const opened: PointExport[] = [];
  try {
    const found: PointFilesystem[] = [];
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
      for (const candidate of candidates) {
        const read = (offset: number, length: number) => exported.read(candidate.offset + offset, length);
        if (candidate.size < 2048 || !(await isExtFilesystem(read))) continue;
        const diskFile = await exported.diskFile();
        const what = `${candidate.name} of disk ${disk.key}`;
        found.push({
          disk,
          name: candidate.name,
          offset: candidate.offset,
          diskFile,
          sandbox: () => exported.sandbox(),
          reader: new ExtReader(diskFile, candidate.offset, what, () => exported.sandbox()),
        });
      }
    }
    return await use(found);
  } finally {
    for (const exported of opened) await exported.close().catch(() => undefined);
  }
}

export async function filesCheck(run: DrillRun, check: Extract<DrillCheck, { type: 'files' }>): Promise<string> {
  return withFilesystems(run, async (found) => {
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
          if (!(error instanceof SendenseError)) throw error;
        }
      }
      if (at === undefined) missing.push(wanted);
      else seen.push(at);
    }
    if (missing.length > 0)
      throw new SendenseError(
        `not in the point: ${missing.join(', ')} (ext filesystems looked in: ${found.map((fs) => `${fs.name} of disk ${fs.disk.key}`).join(', ') || 'none found'})`,
      );
    return `found ${seen.join(', ')}`;
  });
}

export async function fsckCheck(run: DrillRun, check: Extract<DrillCheck, { type: 'fsck' }>): Promise<string> {
  return withFilesystems(run, async (found) => {
    if (found.length === 0) throw new SendenseError("no ext2/3/4 filesystem found on the point's disks to check");
    const until = Date.now() + check.timeout * 1000;
    const clean: string[] = [];
    for (const fs of found) {
      const what = `${fs.name} of disk ${fs.disk.key}`;
      const left = Math.max(1000, until - Date.now());
      try {
        await runSandboxed(['e2fsck', '-n', '-f', `${fs.diskFile}?offset=${fs.offset}`], {
          sandbox: fs.sandbox(),
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
