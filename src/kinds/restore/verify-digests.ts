// verify in one read of the restored disk (docs/how-it-works.md#a-verified-restore): what
// each offset of the restored point holds is known from the manifests of its chain (the newest
// file that wrote there, a range of data with its digest or zeroes; nothing: zeroes). The restored
// disk is read once and every such range is hashed and compared with the digest taken when it was
// backed up, and everything else must read as zeroes. The chain's files are read only where a
// newer file covers part of a range (that range is read whole, checked against its digest, and
// what is left of it hashed). So "identical" means identical to what was read from the source,
// reading the chain's data not twice (qemu-img compare, then every file against its manifest) but
// only where ranges overlap. What the point holds is worked out here, on the hub (expectedPoint);
// the restored disk is read here on this host, on a node by the node transfer (./verify-on-node.ts).
//
// This check only ever says "equal". Without a manifest or digests for a file of the chain, or
// at the first difference, it says nothing, and the step's full comparison decides and words the
// error (a restored disk that differs, or a file of the chain that differs from its manifest).

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { parseNbdUrl } from '../../nbd/index.js';
import { inTurns } from '../../hub/in-turns.js';
import { processStartTicks } from '../../process/index.js';
import { runLocal, startQemuNbd } from '../../qemu/index.js';
import { openImageFile, pageAlignedBuffer, type ImageFileReader } from '../../qemu/image-file-reader.js';
import { VERIFY_SOCKET_DIR_PREFIX, makeSocketDir } from '../../qemu/socket-dir.js';
import { fileImage, withNbdImage, type ReadableImage } from '../../repository/readable-image.js';
import type { ImageSecret } from '../../qemu/image-secret.js';
import type { DiskManifest } from '../../repository/manifest.js';
import { manifestPath } from '../../repository/manifest.js';
import { readManifest } from '../../repository/manifest-file.js';
import { ownLayer } from '../../repository/own-layer.js';
import { RANGE_DIGEST_ALGORITHM, isKnownDigestAlgorithm, rangeDigest } from '../../repository/range-digest.js';
import { pointModel, type RangeCheck } from '../../repository/point-model.js';
import { readMatchesPoint } from '../../repository/point-check.js';
import type { Interval } from '../../repository/intervals.js';
import type { RestoreDiskJob, RestoreRun } from './restore-run.js';

const READ_SIZE = 4 * 1024 * 1024;
const LAYERS_AT_ONCE = 4;

/**
 * Bytes read when the restored disk is equal to the point; undefined when this check cannot say,
 * or failed to look (a file it could not open, say): the full comparison then decides, and says
 * what is wrong if anything is.
 */
export async function restoredEqualsDigests(run: RestoreRun, disk: RestoreDiskJob): Promise<number | undefined> {
  return checkAgainstDigests(run, disk).catch(() => undefined);
}

async function checkAgainstDigests(run: RestoreRun, disk: RestoreDiskJob): Promise<number | undefined> {
  const point = await expectedPoint(run, disk);
  if (point === undefined) return undefined;
  const restored = run.target.restored(disk);
  const result = await withImage(
    run,
    restored.image.startsWith('nbd')
      ? { url: restored.image }
      : {
          file: restored.image,
          format: restored.format,
          direct: () => openImageFile(restored.image, restored.format, { runner: runLocal }),
        },
    (image) => readMatchesPoint(image, disk.virtualSize, point.checks, point.zeroes),
  );
  return result.outcome === 'equal' ? point.bytesRead + result.bytes : undefined;
}

/** What the restored disk must hold: each data range with its digest, sorted, and where it reads as zeroes. */
export interface ExpectedPoint {
  readonly checks: readonly RangeCheck[];
  readonly zeroes: readonly Interval[];
  /** Bytes of the chain's files read to make it (ranges a newer file covers in part). */
  readonly bytesRead: number;
}

/**
 * From the chain's manifests, on the hub (the chain's files are read only where a newer file covers
 * part of a range, decrypted here: no key leaves the hub); undefined when a file has no manifest or
 * digests, or a partly covered range no longer has its digest (the full comparison then says which file).
 */
export async function expectedPoint(run: RestoreRun, disk: RestoreDiskJob): Promise<ExpectedPoint | undefined> {
  const chain = await chainManifests(run, disk);
  if (chain === undefined) return undefined;
  const model = pointModel(
    chain.map((layer) => layer.manifest),
    disk.virtualSize,
  );
  const checks = [...model.checks];
  let bytesRead = 0;
  // Partly covered ranges, grouped by file: each file's own layer read straight from the file, or
  // through one qemu-nbd, LAYERS_AT_ONCE files at a time (a deep chain's starts were most of the
  // check's time).
  const layers = [...new Set(model.partlyCovered.map((part) => part.layer))];
  const hashed = await inTurns(layers, LAYERS_AT_ONCE, (layer) => {
    const file = chain[layer]!.file;
    const own = ownLayer(file);
    const direct = () => openImageFile(file, 'qcow2', { ownLayer: own.filename, runner: runLocal });
    return withImage(run, { file: own.filename, format: 'qcow2', secret: own.secret, direct }, async (image) => {
      const found: RangeCheck[] = [];
      let buffer = pageAlignedBuffer(READ_SIZE);
      for (const part of model.partlyCovered.filter((candidate) => candidate.layer === layer)) {
        const [offset, length, digest] = part.range;
        if (buffer.length < length) buffer = pageAlignedBuffer(length);
        const data = await image.read(offset, length, buffer);
        bytesRead += length;
        if ((await rangeDigest(part.algorithm, data)) !== digest) return undefined;
        for (const [at, size] of part.visible) {
          found.push({
            offset: at,
            length: size,
            algorithm: RANGE_DIGEST_ALGORITHM,
            digest: await rangeDigest(RANGE_DIGEST_ALGORITHM, data.subarray(at - offset, at - offset + size)),
          });
        }
      }
      return found;
    });
  });
  for (const found of hashed) {
    if (found === undefined) return undefined;
    checks.push(...found);
  }
  checks.sort((a, b) => a.offset - b.offset);
  return { checks, zeroes: model.zeroes, bytesRead };
}

// Each file of the disk's chain with its manifest, oldest first; undefined if one has none, no
// digests, digests this version does not know, or another virtual size.
async function chainManifests(
  run: RestoreRun,
  disk: RestoreDiskJob,
): Promise<{ readonly file: string; readonly manifest: DiskManifest }[] | undefined> {
  const chain: { file: string; manifest: DiskManifest }[] = [];
  for (const backup of await run.store.chainOf(run.state.backupId)) {
    const recorded = backup.disks.find((candidate) => candidate.diskKey === disk.key);
    if (recorded === undefined) continue;
    const manifest = await readManifest(manifestPath(recorded.file)).catch(() => undefined);
    if (
      manifest?.digests == null ||
      !isKnownDigestAlgorithm(manifest.digests.algorithm) ||
      manifest.virtualSize !== disk.virtualSize
    )
      return undefined;
    chain.push({ file: recorded.file, manifest });
  }
  return chain.length === 0 ? undefined : chain;
}

/** `direct`: the file read straight, when its format allows (src/qemu/image-file-reader.ts). */
type ImageToRead =
  | { readonly url: string }
  | {
      readonly file: string;
      readonly format: 'qcow2' | 'raw';
      readonly secret?: ImageSecret;
      readonly direct?: () => Promise<ImageFileReader | undefined>;
    };

// fn with the image: an NBD URL as it is; a file straight from the file where it holds the guest's
// bytes as they are (a quarter of the CPU of qemu-nbd), else through a read-only qemu-nbd on a
// private socket, recorded by the run before it can outlive it (doctor stops it after a kill -9).
async function withImage<T>(run: RestoreRun, image: ImageToRead, fn: (image: ReadableImage) => Promise<T>): Promise<T> {
  if ('url' in image) return withNbdImage(parseNbdUrl(image.url), fn);
  const direct = await image.direct?.();
  if (direct !== undefined) {
    try {
      return await fn(fileImage(direct));
    } finally {
      await direct.close();
    }
  }
  // A kill -9 leaves it behind (empty once doctor stopped its qemu-nbd): the next one removes it a minute later.
  const dir = await makeSocketDir(VERIFY_SOCKET_DIR_PREFIX, { sweepDeadSockets: true });
  let server: Awaited<ReturnType<typeof startQemuNbd>> | undefined;
  try {
    const socket = path.join(dir, 'image.sock');
    server = await startQemuNbd({
      file: image.file,
      format: image.format,
      secret: image.secret,
      socket,
      exportName: 'image',
      shared: 1,
      readOnly: true,
      onSpawn: (pid, argv, startTicks) =>
        run.store
          .recordProcess(run.runId, pid, 'qemu-nbd', argv, startTicks ?? processStartTicks(pid))
          .then(() => undefined),
    });
    return await withNbdImage({ kind: 'unix', socketPath: socket, exportName: 'image' }, fn);
  } finally {
    if (server !== undefined) {
      await server.stop();
      await run.store.forgetProcess(server.pid);
    }
    await rm(dir, { recursive: true, force: true });
  }
}
