// The file work of merging a parent point into its child, for one disk (docs/how-it-works.md#retention). The
// child's file is never written: the child's own clusters are copied into the parent's file
// (which only the child still reads, and only where the child does not shadow it, so the child's
// content cannot change while it is written), then the parent's file is renamed over the child's.
// Every step can run again after a crash: doctor finishes a merge by calling this again.
//
//   1. <child>.json.merge  the merged manifest, written atomically (the parent's bytes still intact);
//                          then the copy is opened (openDiskCopy), <parent>.qcow2 for writing
//   2. copy                the child's own clusters (data and zeroes) into <parent>.qcow2, flushed
//   3. rename              <parent>.qcow2 -> <child>.qcow2 (atomic; then the directory is synced)
//   4. rename              <child>.json.merge -> <child>.json; remove <parent>.json

import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { NbdConnection } from '../nbd/index.js';
import { runLocal, startQemuNbd, type QemuNbd } from '../qemu/index.js';
import { makeSocketDir } from '../qemu/socket-dir.js';
import { readManifest, writeManifest } from '../repository/manifest-file.js';
import { syncPath } from '../repository/sync-path.js';
import { manifestPath } from '../repository/manifest.js';
import { ownLayer, type OwnLayer } from '../repository/own-layer.js';
import { SendenseError } from '../errors.js';
import type { BackupDisk } from '../store/index.js';
import { mergedManifest, type Interval } from './merge-manifest.js';
import { crashPoint } from '../crash-points.js';
import { imageMapArgv } from '../qemu/command-lines.js';

export interface MergeFilesContext {
  /** Record a qemu-nbd before it can outlive us; forget it once stopped. */
  readonly onSpawn: (pid: number, argv: readonly string[], startTicks: number | undefined) => Promise<void>;
  readonly onForget: (pid: number) => Promise<void>;
}

export interface MergeFilesResult {
  /** Bytes of the child's own layer copied (data) and zeroed. */
  readonly copied: number;
  readonly zeroed: number;
}

const CHUNK = 4 * 1024 * 1024;
const IN_FLIGHT = 4;

export function pendingManifest(childFile: string): string {
  return `${manifestPath(childFile)}.merge`;
}

// Step 1 only (before the merge is marked as touching files): nothing existing changes.
export async function prepareMergeManifest(
  parent: BackupDisk,
  child: BackupDisk,
  context: MergeFilesContext,
): Promise<void> {
  if (existsSync(pendingManifest(child.file))) return;
  const [parentManifest, childManifest] = await Promise.all([
    readManifest(manifestPath(parent.file)),
    readManifest(manifestPath(child.file)),
  ]);
  const extents = await ownExtents(child.file);
  let reader: OpenExport | undefined;
  try {
    const merged = await mergedManifest(
      parentManifest,
      childManifest,
      [...extents.data, ...extents.zero].sort((a, b) => a[0] - b[0]),
      async (offset, length) => {
        reader ??= await openExport(ownLayer(parent.file), true, context);
        return Buffer.from((await reader.connection.read(offset, length)).data);
      },
    );
    await writeManifest(pendingManifest(child.file), merged);
  } finally {
    await reader?.close();
  }
}

// The copy of one disk, opened before the merge is marked as touching files: the child's own
// clusters (qemu-img map of its layer), its layer open for reading and the parent's file open for
// writing, which takes qemu's write lock on it, so a reader holding that file (a verify, a
// restore, `files`, any qemu-nbd -r) is found while the merge can still be rolled back.
export interface DiskCopy {
  /** True once a write went to the parent's file: from then on only finishing the merge is safe. */
  readonly written: boolean;
  run(): Promise<MergeFilesResult>;
  /** Idempotent. */
  close(): Promise<void>;
}

export async function openDiskCopy(
  parent: BackupDisk,
  child: BackupDisk,
  context: MergeFilesContext,
): Promise<DiskCopy> {
  const extents = await ownExtents(child.file);
  const reader = await openExport(ownLayer(child.file), true, context);
  let writer: OpenExport;
  try {
    // The parent's file opened with its own backing chain: a partial cluster is filled from it.
    writer = await openExport(parent.file, false, context).catch((error: unknown) => {
      throw heldFileError(parent.file, error);
    });
  } catch (error) {
    await reader.close();
    throw error;
  }
  let written = false;
  let closing: Promise<void> | undefined;
  return {
    get written() {
      return written;
    },
    run: async () => {
      const chunks: Interval[] = extents.data.flatMap(([start, length]) => {
        const list: Interval[] = [];
        for (let at = start; at < start + length; at += CHUNK) list.push([at, Math.min(CHUNK, start + length - at)]);
        return list;
      });
      let next = 0;
      let copied = 0;
      const target = writer.connection;
      const worker = async () => {
        while (next < chunks.length) {
          const [offset, length] = chunks[next++]!;
          const { data } = await reader.connection.read(offset, length);
          written = true;
          await target.write(offset, data);
          copied += length;
          if (copied === length) crashPoint('merge.copy');
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
      let zeroed = 0;
      for (const [offset, length] of extents.zero) {
        written = true;
        await target.writeZeroes(offset, length);
        zeroed += length;
      }
      await target.flush();
      return { copied, zeroed };
    },
    close: () =>
      (closing ??= (async () => {
        // Both, even when one fails (its qemu-nbd then stays recorded for doctor).
        const results = await Promise.allSettled([writer.close(), reader.close()]);
        const failed = results.find((result) => result.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      })()),
  };
}

// qemu's "Failed to get "write" lock": another process has the file open (qemu locks images with
// OFD locks); anything else as it was.
function heldFileError(file: string, error: unknown): unknown {
  if (!/Failed to get "write" lock/.test((error as Error)?.message ?? '')) return error;
  return new SendenseError(
    `${file} is open in another process (qemu's write lock: a verify, restore, files or qemu-nbd reading that point or one built on it); try again when it is closed`,
    {
      cause: error,
    },
  );
}

// Steps 2-4, from wherever a crash left them; `copy`: the copy opened beforehand (closed here).
export async function mergeDiskFiles(
  parent: BackupDisk,
  child: BackupDisk,
  context: MergeFilesContext,
  copy?: DiskCopy,
): Promise<MergeFilesResult> {
  let result: MergeFilesResult = { copied: 0, zeroed: 0 };
  if (existsSync(parent.file)) {
    if (!existsSync(pendingManifest(child.file))) {
      await copy?.close();
      throw new SendenseError(
        `merge of ${parent.file} into ${child.file}: the merged manifest ${pendingManifest(child.file)} is missing`,
      );
    }
    const open = copy ?? (await openDiskCopy(parent, child, context));
    try {
      result = await open.run();
    } finally {
      await open.close();
    }
    crashPoint('merge.copied');
    await rename(parent.file, child.file);
    await syncPath(path.dirname(child.file));
    crashPoint('merge.renamed');
  } else {
    await copy?.close();
    if (!existsSync(child.file))
      throw new SendenseError(`merge into ${child.file}: neither it nor ${parent.file} exists`);
  }
  if (existsSync(pendingManifest(child.file))) {
    await rename(pendingManifest(child.file), manifestPath(child.file));
    await syncPath(path.dirname(child.file));
  }
  await rm(manifestPath(parent.file), { force: true });
  return result;
}

// The child's own clusters, from qemu-img map of its layer alone: data, and zero clusters that hide the parent.
async function ownExtents(file: string): Promise<{ data: Interval[]; zero: Interval[] }> {
  const own = ownLayer(file);
  const map = await runLocal(imageMapArgv(own.filename, own.objectArgs), {
    secret: own.secret,
  });
  if (map.exitCode !== 0) throw new SendenseError(`qemu-img map ${file}: ${map.stderr.trim()}`);
  return ownExtentsOfMap(map.stdout);
}

// `qemu-img map --output=json` of a layer alone (backing: null): its data, and its zero clusters that hide the parent.
export function ownExtentsOfMap(json: string): { data: Interval[]; zero: Interval[] } {
  const entries = JSON.parse(json) as {
    start: number;
    length: number;
    present?: boolean;
    data: boolean;
    zero: boolean;
  }[];
  const data: Interval[] = [];
  const zero: Interval[] = [];
  for (const entry of entries) {
    if (entry.present === false) continue;
    if (entry.data) data.push([entry.start, entry.length]);
    else if (entry.zero) zero.push([entry.start, entry.length]);
  }
  return { data, zero };
}

interface OpenExport {
  readonly connection: NbdConnection;
  close(): Promise<void>;
}

const MERGE_DIR_PREFIX = 'sendense-merge-';

// A qemu-nbd on a private Unix socket and one connection to it.
async function openExport(
  image: string | OwnLayer,
  readOnly: boolean,
  context: MergeFilesContext,
): Promise<OpenExport> {
  const { file, secret } =
    typeof image === 'string' ? { file: image, secret: undefined } : { file: image.filename, secret: image.secret };
  const dir = await makeSocketDir(MERGE_DIR_PREFIX);
  const socket = path.join(dir, 'nbd.sock');
  let server: QemuNbd | undefined;
  try {
    server = await startQemuNbd({
      file,
      secret,
      format: 'qcow2',
      socket,
      exportName: 'merge',
      shared: 1,
      readOnly,
      onSpawn: context.onSpawn,
    });
    const connection = await NbdConnection.connect({ kind: 'unix', socketPath: socket, exportName: 'merge' });
    const started = server;
    return {
      connection,
      async close() {
        await connection.close().catch(() => undefined);
        await started.stop();
        await context.onForget(started.pid);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    if (server !== undefined) {
      await server.stop();
      await context.onForget(server.pid);
    }
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
