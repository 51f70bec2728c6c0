// The file work of merging a parent point into its child, for one disk (SPEC section 10). The
// child's file is never written: the child's own clusters are copied into the parent's file
// (which only the child still reads, and only where the child does not shadow it, so the child's
// content cannot change while it is written), then the parent's file is renamed over the child's.
// Every step can run again after a crash: doctor finishes a merge by calling this again.
//
//   1. <child>.json.merge  the merged manifest, written atomically (the parent's bytes still intact)
//   2. copy                the child's own clusters (data and zeroes) into <parent>.qcow2, flushed
//   3. rename              <parent>.qcow2 -> <child>.qcow2 (atomic; then the directory is synced)
//   4. rename              <child>.json.merge -> <child>.json; remove <parent>.json

import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NbdConnection } from '../nbd/index.js';
import { runLocal, startQemuNbd, type QemuNbd } from '../qemu/index.js';
import { readManifest, writeManifest } from '../repository/manifest-file.js';
import { manifestPath } from '../repository/manifest.js';
import { ownLayerFilename } from '../repository/own-layer.js';
import { SendenseError } from '../errors.js';
import type { BackupDisk } from '../store/index.js';
import { mergedManifest, type Interval } from './merge-manifest.js';
import { crashPoint } from './crash-point.js';

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
export async function prepareMergeManifest(parent: BackupDisk, child: BackupDisk, context: MergeFilesContext): Promise<void> {
  if (existsSync(pendingManifest(child.file))) return;
  const [parentManifest, childManifest] = await Promise.all([readManifest(manifestPath(parent.file)), readManifest(manifestPath(child.file))]);
  const extents = await ownExtents(child.file);
  let reader: OpenExport | undefined;
  try {
    const merged = await mergedManifest(parentManifest, childManifest, [...extents.data, ...extents.zero].sort((a, b) => a[0] - b[0]), async (offset, length) => {
      reader ??= await openExport(ownLayerFilename(parent.file), true, context);
      return Buffer.from((await reader.connection.read(offset, length)).data);
    });
    await writeManifest(pendingManifest(child.file), merged);
  } finally {
    await reader?.close();
  }
}

// Steps 2-4, from wherever a crash left them.
export async function mergeDiskFiles(parent: BackupDisk, child: BackupDisk, context: MergeFilesContext): Promise<MergeFilesResult> {
  let result: MergeFilesResult = { copied: 0, zeroed: 0 };
  if (existsSync(parent.file)) {
    if (!existsSync(pendingManifest(child.file))) {
      throw new SendenseError(`merge of ${parent.file} into ${child.file}: the merged manifest ${pendingManifest(child.file)} is missing`);
    }
    result = await copyOwnLayer(child.file, parent.file, context);
    crashPoint('copied');
    await rename(parent.file, child.file);
    await syncDir(path.dirname(child.file));
    crashPoint('renamed');
  } else if (!existsSync(child.file)) {
    throw new SendenseError(`merge into ${child.file}: neither it nor ${parent.file} exists`);
  }
  if (existsSync(pendingManifest(child.file))) {
    await rename(pendingManifest(child.file), manifestPath(child.file));
    await syncDir(path.dirname(child.file));
  }
  await rm(manifestPath(parent.file), { force: true });
  return result;
}

// The child's own clusters, from qemu-img map of its layer alone: data, and zero clusters that hide the parent.
async function ownExtents(file: string): Promise<{ data: Interval[]; zero: Interval[] }> {
  const map = await runLocal(['qemu-img', 'map', '--output=json', ownLayerFilename(file)]);
  if (map.exitCode !== 0) throw new SendenseError(`qemu-img map ${file}: ${map.stderr.trim()}`);
  const entries = JSON.parse(map.stdout) as { start: number; length: number; present?: boolean; data: boolean; zero: boolean }[];
  const data: Interval[] = [];
  const zero: Interval[] = [];
  for (const entry of entries) {
    if (entry.present === false) continue;
    if (entry.data) data.push([entry.start, entry.length]);
    else if (entry.zero) zero.push([entry.start, entry.length]);
  }
  return { data, zero };
}

async function copyOwnLayer(childFile: string, parentFile: string, context: MergeFilesContext): Promise<MergeFilesResult> {
  const extents = await ownExtents(childFile);
  const reader = await openExport(ownLayerFilename(childFile), true, context);
  let writer: OpenExport | undefined;
  try {
    // The parent's file opened with its own backing chain: a partial cluster is filled from it.
    writer = await openExport(parentFile, false, context);
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
        await target.write(offset, data);
        copied += length;
        if (copied === length) crashPoint('copy');
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    let zeroed = 0;
    for (const [offset, length] of extents.zero) {
      await target.writeZeroes(offset, length);
      zeroed += length;
    }
    await target.flush();
    return { copied, zeroed };
  } finally {
    await writer?.close();
    await reader.close();
  }
}

interface OpenExport {
  readonly connection: NbdConnection;
  close(): Promise<void>;
}

const MERGE_DIR_PREFIX = 'sendense-merge-';
const STALE_DIR_MS = 60_000;

// The socket directories of merges a kill -9 stopped stay behind, empty once their qemu-nbd is
// gone (doctor stops it): the next merge removes those a minute old. A live merge's directory
// holds its socket from the moment its qemu-nbd starts, milliseconds after it is made.
async function removeStaleMergeDirs(): Promise<void> {
  const base = tmpdir();
  for (const name of (await readdir(base).catch(() => [] as string[])).filter((entry) => entry.startsWith(MERGE_DIR_PREFIX))) {
    const dir = path.join(base, name);
    const info = await stat(dir).catch(() => undefined);
    if (info === undefined || !info.isDirectory() || info.uid !== process.getuid?.() || Date.now() - info.mtimeMs < STALE_DIR_MS) continue;
    await rmdir(dir).catch(() => undefined); // not empty: not ours to judge
  }
}

// A qemu-nbd on a private Unix socket and one connection to it.
async function openExport(file: string, readOnly: boolean, context: MergeFilesContext): Promise<OpenExport> {
  await removeStaleMergeDirs();
  const dir = await mkdtemp(path.join(tmpdir(), MERGE_DIR_PREFIX));
  const socket = path.join(dir, 'nbd.sock');
  let server: QemuNbd | undefined;
  try {
    server = await startQemuNbd({ file, format: 'qcow2', socket, exportName: 'merge', shared: 1, readOnly, onSpawn: context.onSpawn });
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

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
