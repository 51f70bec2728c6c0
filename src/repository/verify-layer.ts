// Checks one backup file against its manifest (docs/how-it-works.md#verification): the qcow2 header and metadata
// (qemu-img check of its own layer), its size, the digest of every data range the transfer wrote,
// and that every other byte of the layer reads as zeroes or is not allocated. Read straight from the
// file where it holds the guest's bytes as they are (src/qemu/image-file-reader.ts), else through a
// read-only qemu-nbd on a private Unix socket and this project's NBD client; several reads in flight.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { BASE_ALLOCATION, NbdConnection } from '../nbd/index.js';
import { openImageFile, pageAlignedBuffer } from '../qemu/image-file-reader.js';
import { fileImage, nbdImage, type ReadableImage } from './readable-image.js';
import { runLocal, startQemuNbd, type QemuNbdOptions } from '../qemu/index.js';
import { qcow2HeaderProblem } from '../qemu/qcow2-header.js';
import { VERIFY_SOCKET_DIR_PREFIX, makeSocketDir } from '../qemu/socket-dir.js';
import type { DiskManifest } from './manifest.js';
import { ownLayer } from './own-layer.js';
import { isKnownDigestAlgorithm, rangeDigest } from './range-digest.js';
import { plainFileProblem } from './repository-keys.js';
import { imageCheckArgv } from '../qemu/command-lines.js';

export interface LayerFinding {
  /** Guest offset of the first differing range, when the difference is in the data. */
  readonly offset?: number;
  readonly message: string;
}

export interface LayerResult {
  readonly findings: readonly LayerFinding[];
  /** False when the manifest holds no digests (VMware client): only the metadata was checked. */
  readonly digestsChecked: boolean;
  readonly bytesRead: number;
  /** Another process holds the file for writing (qemu's image locking): nothing was judged. */
  readonly busy?: string;
}

export interface VerifyLayerOptions {
  /** Record the qemu-nbd before it can outlive us (doctor finds it after a kill -9). */
  readonly onSpawn?: QemuNbdOptions['onSpawn'];
  readonly onForget?: (pid: number) => Promise<void>;
  /** Reads in flight. */
  readonly inFlight?: number;
  /** Who wrote the layer, for messages (default "the backup"; a replica point's: "the sync"). */
  readonly writer?: string;
}

const READ_SIZE = 4 * 1024 * 1024;

export async function verifyLayer(
  file: string,
  manifest: DiskManifest,
  options: VerifyLayerOptions = {},
): Promise<LayerResult> {
  const header = qcow2HeaderProblem(file) ?? plainFileProblem(file);
  if (header !== undefined) return { findings: [{ message: header }], digestsChecked: false, bytesRead: 0 };
  const own = ownLayer(file);
  const layer = own.filename;
  const check = await runLocal(imageCheckArgv(layer, own.objectArgs), {
    secret: own.secret,
  });
  // qemu-img check: 0 clean, 3 leaked clusters only (harmless), 2 corruptions, 1 could not check.
  if (check.exitCode !== 0 && check.exitCode !== 3 && isLockConflict(check.stderr)) {
    return {
      findings: [],
      digestsChecked: false,
      bytesRead: 0,
      busy: `${file} is in use by another process (${check.stderr.trim().split('\n')[0]}): verify it again when it is closed`,
    };
  }
  // Killed by a signal (the OOM killer, an admin): it looked at nothing, so it found nothing. Not
  // judged this time, never damage (docs/how-it-works.md#verification).
  if (check.exitCode >= 128) {
    return {
      findings: [],
      digestsChecked: false,
      bytesRead: 0,
      busy: `qemu-img check of ${file} was stopped by a signal (exit ${check.exitCode}) before it could say: verify it again`,
    };
  }
  if (check.exitCode !== 0 && check.exitCode !== 3) {
    return {
      findings: [{ message: `qcow2 metadata damaged (qemu-img check: ${checkSummary(check.stdout, check.stderr)})` }],
      digestsChecked: false,
      bytesRead: 0,
    };
  }
  if (manifest.digests === null) return { findings: [], digestsChecked: false, bytesRead: 0 };
  if (!isKnownDigestAlgorithm(manifest.digests.algorithm)) {
    return {
      findings: [
        {
          message: `the manifest's digests are ${JSON.stringify(manifest.digests.algorithm)}, an algorithm this sendense-run does not know`,
        },
      ],
      digestsChecked: false,
      bytesRead: 0,
    };
  }

  // Straight from the file where it holds the guest's bytes as they are (an unencrypted, uncompressed
  // repository): a quarter of the CPU of reading through qemu-nbd (src/qemu/image-file-reader.ts).
  const direct = await openImageFile(file, 'qcow2', { ownLayer: layer, runner: runLocal }).catch(() => undefined);
  if (direct !== undefined) {
    try {
      return await checkLayer(
        fileImage(direct),
        { virtualSize: manifest.virtualSize, digests: manifest.digests },
        options,
      );
    } finally {
      await direct.close();
    }
  }
  // A kill -9 leaves it behind (empty once doctor stopped its qemu-nbd): the next verify removes it a minute later.
  const dir = await makeSocketDir(VERIFY_SOCKET_DIR_PREFIX, { sweepDeadSockets: true });
  let server: Awaited<ReturnType<typeof startQemuNbd>> | undefined;
  let connection: NbdConnection | undefined;
  try {
    const socket = path.join(dir, 'layer.sock');
    server = await startQemuNbd({
      file: layer,
      secret: own.secret,
      format: 'qcow2',
      socket,
      exportName: 'layer',
      shared: 2,
      readOnly: true,
      onSpawn: options.onSpawn,
    });
    connection = await NbdConnection.connect(
      { kind: 'unix', socketPath: socket, exportName: 'layer' },
      { metaContexts: [BASE_ALLOCATION] },
    );
    return await checkLayer(
      nbdImage(connection),
      { virtualSize: manifest.virtualSize, digests: manifest.digests },
      options,
    );
  } finally {
    await connection?.close().catch(() => undefined);
    if (server !== undefined) {
      await server.stop();
      await options.onForget?.(server.pid);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** What a layer is checked against: its size and the digests of what was written into it. */
export type LayerDigests = Pick<DiskManifest, 'virtualSize'> & {
  readonly digests: NonNullable<DiskManifest['digests']>;
};

// Also a replica point's layer, read on the replica node (src/replica/replica-layer.ts).
export async function checkLayer(
  image: ReadableImage,
  manifest: LayerDigests,
  options: VerifyLayerOptions,
): Promise<LayerResult> {
  if (image.size !== manifest.virtualSize) {
    return {
      findings: [{ message: `virtual size ${image.size} bytes, the manifest says ${manifest.virtualSize}` }],
      digestsChecked: true,
      bytesRead: 0,
    };
  }
  const findings: LayerFinding[] = [];
  const bytesRead = await checkDataRanges(image, manifest, findings, options.inFlight ?? 8);
  const extra = await checkEverythingElse(image, manifest, findings, options.writer ?? 'the backup');
  findings.sort((a, b) => (a.offset ?? -1) - (b.offset ?? -1));
  return { findings, digestsChecked: true, bytesRead: bytesRead + extra };
}

// Every data range read back and hashed; a different digest names the range's guest offset.
async function checkDataRanges(
  image: ReadableImage,
  manifest: LayerDigests,
  findings: LayerFinding[],
  inFlight: number,
): Promise<number> {
  const { algorithm, data } = manifest.digests;
  let next = 0;
  let bytes = 0;
  const worker = async (): Promise<void> => {
    let buffer = pageAlignedBuffer(READ_SIZE);
    while (next < data.length) {
      const [offset, length, digest] = data[next++]!;
      if (buffer.length < length) buffer = pageAlignedBuffer(length);
      const bytesRead = await image.read(offset, length, buffer);
      bytes += length;
      if ((await rangeDigest(algorithm, bytesRead)) !== digest) {
        findings.push({
          offset,
          message: `data differs at guest offset ${offset} (the ${length}-byte range written there)`,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return bytes;
}

// Outside the data ranges the layer must hold nothing but zeroes: allocated data there (a bit
// flipped in an L2 entry, say) is read and must be zero.
async function checkEverythingElse(
  image: ReadableImage,
  manifest: LayerDigests,
  findings: LayerFinding[],
  writer: string,
): Promise<number> {
  const data = manifest.digests.data;
  let index = 0;
  let bytes = 0;
  const buffer = pageAlignedBuffer(READ_SIZE);
  for await (const [start, length] of image.dataIn!(0, image.size)) {
    const end = start + length;
    // The parts of this extent no data range covers.
    while (index < data.length && data[index]![0] + data[index]![1] <= start) index++;
    let at = start;
    for (let i = index; at < end; i++) {
      const range = data[i];
      const gapEnd = range === undefined ? end : Math.min(end, range[0]);
      for (let offset = at; offset < gapEnd; offset += READ_SIZE) {
        const length = Math.min(READ_SIZE, gapEnd - offset);
        const read = await image.read(offset, length, buffer);
        bytes += length;
        const nonZero = read.findIndex((byte) => byte !== 0);
        if (nonZero !== -1) {
          findings.push({
            offset: offset + nonZero,
            message: `data at guest offset ${offset + nonZero} where ${writer} wrote none or zeroes`,
          });
          return bytes;
        }
      }
      if (range === undefined) break;
      at = Math.max(at, range[0] + range[1]);
    }
  }
  return bytes;
}

// qemu's image locking: "Failed to get shared "write" lock", "Failed to get "write" lock".
function isLockConflict(stderr: string): boolean {
  return /Failed to get .*lock/.test(stderr);
}

function checkSummary(stdout: string, stderr: string): string {
  try {
    const result = JSON.parse(stdout) as { corruptions?: number; 'check-errors'?: number };
    const parts = [
      result.corruptions && `${result.corruptions} corruption(s)`,
      result['check-errors'] && `${result['check-errors']} check error(s)`,
    ].filter(Boolean);
    if (parts.length > 0) return parts.join(', ');
  } catch {
    // Not JSON: qemu-img could not open the file; its message says why.
  }
  return (
    stderr
      .trim()
      .split('\n')
      .map((line) => line.replace(/^qemu-img: /, ''))
      .join('; ') || 'failed'
  );
}
