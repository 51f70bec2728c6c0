// verify on this host, in one read of the restored disk (docs/how-it-works.md#a-verified-restore): what
// each offset of the restored point holds is known from the manifests of its chain (the newest
// file that wrote there, a range of data with its digest or zeroes; nothing: zeroes). The restored
// disk is read once and every such range is hashed and compared with the digest taken when it was
// backed up, and everything else must read as zeroes. The chain's files are read only where a
// newer file covers part of a range (that range is read whole, checked against its digest, and
// what is left of it hashed). So "identical" means identical to what was read from the source,
// reading the chain's data not twice (qemu-img compare, then every file against its manifest) but
// only where ranges overlap.
//
// This check only ever says "equal". Without a manifest or digests for a file of the chain, or
// at the first difference, it says nothing, and the step's full comparison decides and words the
// error (a restored disk that differs, or a file of the chain that differs from its manifest).

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { BASE_ALLOCATION, NbdConnection, parseNbdUrl, type NbdAddress } from '../../nbd/index.js';
import { inTurns } from '../../hub/in-turns.js';
import { processStartTicks } from '../../process/index.js';
import { runLocal, startQemuNbd } from '../../qemu/index.js';
import { openImageFile, pageAlignedBuffer, type ImageFileReader } from '../../qemu/image-file-reader.js';
import { VERIFY_SOCKET_DIR_PREFIX, makeSocketDir } from '../../qemu/socket-dir.js';
import { fileImage, nbdImage, type ReadableImage } from '../../repository/readable-image.js';
import type { ImageSecret } from '../../qemu/image-secret.js';
import type { DiskManifest } from '../../repository/manifest.js';
import { manifestPath } from '../../repository/manifest.js';
import { readManifest } from '../../repository/manifest-file.js';
import { ownLayer } from '../../repository/own-layer.js';
import { RANGE_DIGEST_ALGORITHM, isKnownDigestAlgorithm, rangeDigest } from '../../repository/range-digest.js';
import { pointModel, type RangeCheck } from '../../repository/point-model.js';
import type { Interval } from '../../repository/intervals.js';
import type { RestoreDiskJob, RestoreRun } from './restore-run.js';

const READ_SIZE = 4 * 1024 * 1024;
const IN_FLIGHT = 8;
const LAYERS_AT_ONCE = 4;
const ZEROES = Buffer.alloc(READ_SIZE);

/**
 * Bytes read when the restored disk is equal to the point; undefined when this check cannot say,
 * or failed to look (a file it could not open, say): the full comparison then decides, and says
 * what is wrong if anything is.
 */
export async function restoredEqualsDigests(run: RestoreRun, disk: RestoreDiskJob): Promise<number | undefined> {
  return checkAgainstDigests(run, disk).catch(() => undefined);
}

async function checkAgainstDigests(run: RestoreRun, disk: RestoreDiskJob): Promise<number | undefined> {
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

  const restored = run.target.restored(disk);
  const checkRead = async (image: ReadableImage): Promise<boolean> => {
    // A server without block status (not qemu-nbd) is left to the full comparison.
    if (image.size < disk.virtualSize || image.dataIn === undefined) return false;
    // A target larger than the point (an NBD export) must read as zeroes past its end.
    const zeroes =
      image.size > disk.virtualSize
        ? [...model.zeroes, [disk.virtualSize, image.size - disk.virtualSize] as const]
        : model.zeroes;
    const [data, zero] = await Promise.all([rangesHaveDigests(image, checks), readsAsZeroes(image, zeroes)]);
    bytesRead += data.bytes + zero.bytes;
    return data.equal && zero.equal;
  };
  const equal = await withImage(
    run,
    restored.image.startsWith('nbd')
      ? { url: restored.image }
      : {
          file: restored.image,
          format: restored.format,
          direct: () => openImageFile(restored.image, restored.format, { runner: runLocal }),
        },
    checkRead,
  );
  return equal === true ? bytesRead : undefined;
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

async function rangesHaveDigests(
  image: ReadableImage,
  checks: readonly RangeCheck[],
): Promise<{ readonly equal: boolean; readonly bytes: number }> {
  let next = 0;
  let bytes = 0;
  let equal = true;
  const worker = async (): Promise<void> => {
    let buffer = pageAlignedBuffer(READ_SIZE);
    while (equal && next < checks.length) {
      const { offset, length, algorithm, digest } = checks[next++]!;
      if (buffer.length < length) buffer = pageAlignedBuffer(length);
      const data = await image.read(offset, length, buffer);
      bytes += length;
      if ((await rangeDigest(algorithm, data)) !== digest) equal = false;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { equal, bytes };
}

// Holes and zero extents pass unread; anything allocated there is read and must be zeroes.
async function readsAsZeroes(
  image: ReadableImage,
  zeroes: readonly Interval[],
): Promise<{ readonly equal: boolean; readonly bytes: number }> {
  const buffer = pageAlignedBuffer(READ_SIZE);
  let bytes = 0;
  for (const [start, length] of zeroes) {
    for await (const [at, size] of image.dataIn!(start, start + length)) {
      const end = Math.min(at + size, start + length);
      for (let offset = Math.max(at, start); offset < end; offset += READ_SIZE) {
        const part = Math.min(READ_SIZE, end - offset);
        const data = await image.read(offset, part, buffer);
        bytes += part;
        if (!ZEROES.subarray(0, part).equals(data)) return { equal: false, bytes };
      }
    }
  }
  return { equal: true, bytes };
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
  if ('url' in image) return withConnection(parseNbdUrl(image.url), (connection) => fn(nbdImage(connection)));
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
    return await withConnection({ kind: 'unix', socketPath: socket, exportName: 'image' }, (connection) =>
      fn(nbdImage(connection)),
    );
  } finally {
    if (server !== undefined) {
      await server.stop();
      await run.store.forgetProcess(server.pid);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

async function withConnection<T>(address: NbdAddress, fn: (connection: NbdConnection) => Promise<T>): Promise<T> {
  const connection = await NbdConnection.connect(address, { metaContexts: [BASE_ALLOCATION] });
  try {
    return await fn(connection);
  } finally {
    await connection.close().catch(() => undefined);
  }
}
