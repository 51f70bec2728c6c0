// Checks a qemu:/file: endpoint's image before the transfer serves it: present, a format qemu-nbd
// serves, and for an incremental a bitmap that can be trusted.

import { existsSync } from 'node:fs';
import { SendenseError } from '../../src/errors.js';
import { bitmapProblem } from '../../src/qemu/bitmap-health.js';
import { imageInfoWith, type ImageInfo } from '../../src/qemu/image-info.js';
import type { TransferImageFormat, TransferSource, TransferTarget } from '../../src/wire/index.js';
import { runCommand } from './run-command.js';

/** An image endpoint: the transfer serves it with its own qemu-nbd. */
export type ImageEndpoint = Extract<TransferSource | TransferTarget, { kind: 'qemu' } | { kind: 'file' }>;

// The image's format once checked; a missing target throws at once, a source is checked as it goes.
export function checkedFormat(
  endpoint: ImageEndpoint,
  disk: number,
  bitmap: string | undefined,
): Promise<TransferImageFormat> {
  if (endpoint.kind === 'qemu') {
    const { path, format: named } = endpoint;
    return sourceInfo(path, disk, named).then((info) => {
      const format = named ?? servedFormat(info, path, disk);
      if (bitmap !== undefined) {
        if (format !== 'qcow2')
          throw new SendenseError(
            `${path} is a ${format} image: it has no bitmaps, so only a full backup is possible`,
            {
              disk,
            },
          );
        checkBitmap(info, path, bitmap, disk);
      }
      return format;
    });
  }
  if (!existsSync(endpoint.path)) throw new SendenseError(`target image ${endpoint.path} does not exist`, { disk });
  return Promise.resolve(endpoint.format);
}

// What the transfer needs to know of a qemu: source before serving it (-U: a shared lock is enough).
async function sourceInfo(path: string, disk: number, format: TransferImageFormat | undefined): Promise<ImageInfo> {
  if (!existsSync(path)) throw new SendenseError(`source image ${path} does not exist`, { disk });
  return imageInfoWith(runCommand, path, { forceShare: true, format });
}

// A probed format the transfer can serve; the hub names the format, so this is for a hand-written command line.
function servedFormat(info: ImageInfo, path: string, disk: number): TransferImageFormat {
  if (info.format === 'qcow2' || info.format === 'raw') return info.format;
  throw new SendenseError(`${path} is a ${info.format} image; qemu sources must be qcow2 or raw`, { disk });
}

// An incremental needs the bitmap present and consistent (docs/how-it-works.md#change-tracking-by-source): say which and where.
function checkBitmap(info: ImageInfo, path: string, bitmap: string, disk: number): void {
  const problem = bitmapProblem(info.bitmaps, bitmap);
  if (problem === 'missing') {
    const others = info.bitmaps.map((candidate) => candidate.name).join(', ') || 'none';
    throw new SendenseError(`bitmap '${bitmap}' not found in ${path} (bitmaps there: ${others})`, { disk });
  }
  if (problem === 'inconsistent')
    throw new SendenseError(
      `bitmap '${bitmap}' in ${path} is inconsistent (in-use: the image was not closed cleanly)`,
      { disk },
    );
  if (problem === 'disabled')
    throw new SendenseError(`bitmap '${bitmap}' in ${path} is disabled (it stopped recording writes)`, { disk });
}
