// --check-restored (runners/README.md; docs/how-it-works.md#a-verified-restore): the restored disk
// on this node read once against what the hub says the point holds, so a verified restore to a
// node does not read the chain through the tunnel. A file is read straight where its format allows
// (src/qemu/image-file-reader.ts), else through a read-only qemu-nbd of our own; an NBD target is
// read where it is. The answer is one line: equal, the first difference, or why this check cannot say.

import { join } from 'node:path';
import { isSendenseError } from '../../src/errors.js';
import { parseNbdUrl } from '../../src/nbd/index.js';
import { openImageFile } from '../../src/qemu/image-file-reader.js';
import { startQemuNbd } from '../../src/qemu/qemu-nbd.js';
import { readMatchesPoint } from '../../src/repository/point-check.js';
import { fileImage, withNbdImage, type ReadableImage } from '../../src/repository/readable-image.js';
import type { RestoredCheckLine, RestoredCheckRequest } from '../../src/wire/index.js';
import { runCommand } from './run-command.js';
import { openTransferDir } from './transfer-dir.js';

const QEMU_NBD_READY_TIMEOUT_MS = 15_000;
const QEMU_NBD_STOP_GRACE_MS = 3000;

/** `signal`: the hub is gone or gave up (stdin closed, SIGTERM): the check stops at its next read. */
export async function checkRestored(request: RestoredCheckRequest, signal?: AbortSignal): Promise<RestoredCheckLine> {
  try {
    return await withImage(request.image, (image) =>
      readMatchesPoint(image, request.size, request.checks, request.zeroes, signal),
    );
  } catch (error) {
    const why = isSendenseError(error) || signal?.reason === error ? (error as Error).message : String(error);
    return { outcome: 'error', bytes: 0, why };
  }
}

async function withImage<T>(
  target: RestoredCheckRequest['image'],
  fn: (image: ReadableImage) => Promise<T>,
): Promise<T> {
  if (target.kind === 'nbd') return withNbdImage(parseNbdUrl(target.url), fn);
  const direct = await openImageFile(target.path, target.format, { runner: runCommand });
  if (direct !== undefined) {
    try {
      return await fn(fileImage(direct));
    } finally {
      await direct.close();
    }
  }
  const dir = await openTransferDir();
  try {
    const socket = join(dir.path, 'qemu-nbd-check.sock');
    const server = await startQemuNbd({
      file: target.path,
      format: target.format,
      socket,
      exportName: 'disk',
      shared: 1,
      readOnly: true,
      persistent: false,
      diesWithUs: true,
      readyTimeoutMs: QEMU_NBD_READY_TIMEOUT_MS,
    });
    try {
      return await withNbdImage({ kind: 'unix', socketPath: socket, exportName: 'disk' }, fn);
    } finally {
      await server.stop(QEMU_NBD_STOP_GRACE_MS);
    }
  } finally {
    await dir.close();
  }
}
