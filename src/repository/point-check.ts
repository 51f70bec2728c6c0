// One read of a restored disk against what the point holds (docs/how-it-works.md#a-verified-restore):
// each data range hashed and compared with its digest, everything else read as zeroes (holes and
// zero extents pass unread). The hub runs it on a disk of this host (src/kinds/restore/verify-digests.ts),
// the node transfer on a disk of its node (runners/transfer/check-restored.ts): one code for both.

import { pageAlignedBuffer } from '../qemu/image-file-reader.js';
import type { Interval } from './intervals.js';
import type { RangeCheck } from './point-model.js';
import { rangeDigest } from './range-digest.js';
import type { ReadableImage } from './readable-image.js';

const READ_SIZE = 4 * 1024 * 1024;
const IN_FLIGHT = 8;
const ZEROES = Buffer.alloc(READ_SIZE);

/**
 * `equal`: every range has its digest and the rest reads as zeroes. `different`: `offset` is where
 * the first difference found starts (a range's start, or the first block that is not zeroes).
 * `unknown`: the image cannot be checked this way (smaller than the point, no block status).
 */
export type PointCheck =
  | { readonly outcome: 'equal'; readonly bytes: number }
  | { readonly outcome: 'different'; readonly bytes: number; readonly offset: number }
  | { readonly outcome: 'unknown'; readonly bytes: number; readonly why: string };

/**
 * `checks` sorted by offset; `zeroes` sorted, not overlapping; `size` the point's virtual size.
 * `signal`: stops before the next read (throwing its reason) once nobody waits for the answer.
 */
export async function readMatchesPoint(
  image: ReadableImage,
  size: number,
  checks: readonly RangeCheck[],
  zeroes: readonly Interval[],
  signal?: AbortSignal,
): Promise<PointCheck> {
  signal?.throwIfAborted();
  if (image.size < size)
    return { outcome: 'unknown', bytes: 0, why: `the image is ${image.size} bytes, the point ${size}` };
  // A server without block status (not qemu-nbd) is left to the full comparison.
  if (image.dataIn === undefined)
    return { outcome: 'unknown', bytes: 0, why: 'the image cannot say where it holds data' };
  // A target larger than the point (an NBD export) must read as zeroes past its end.
  const allZeroes = image.size > size ? [...zeroes, [size, image.size - size] as const] : zeroes;
  const [data, zero] = await Promise.all([
    rangesHaveDigests(image, checks, signal),
    readsAsZeroes(image, allZeroes, signal),
  ]);
  const bytes = data.bytes + zero.bytes;
  const offsets = [data.differsAt, zero.differsAt].filter((offset) => offset !== undefined);
  return offsets.length === 0
    ? { outcome: 'equal', bytes }
    : { outcome: 'different', bytes, offset: Math.min(...offsets) };
}

async function rangesHaveDigests(
  image: ReadableImage,
  checks: readonly RangeCheck[],
  signal: AbortSignal | undefined,
): Promise<{ readonly differsAt?: number; readonly bytes: number }> {
  let next = 0;
  let bytes = 0;
  let differsAt: number | undefined;
  const worker = async (): Promise<void> => {
    let buffer = pageAlignedBuffer(READ_SIZE);
    while (differsAt === undefined && next < checks.length) {
      signal?.throwIfAborted();
      const { offset, length, algorithm, digest } = checks[next++]!;
      if (buffer.length < length) buffer = pageAlignedBuffer(length);
      const data = await image.read(offset, length, buffer);
      bytes += length;
      if ((await rangeDigest(algorithm, data)) !== digest) differsAt = Math.min(offset, differsAt ?? offset);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { differsAt, bytes };
}

// Holes and zero extents pass unread; anything allocated there is read and must be zeroes.
async function readsAsZeroes(
  image: ReadableImage,
  zeroes: readonly Interval[],
  signal: AbortSignal | undefined,
): Promise<{ readonly differsAt?: number; readonly bytes: number }> {
  const buffer = pageAlignedBuffer(READ_SIZE);
  let bytes = 0;
  for (const [start, length] of zeroes) {
    for await (const [at, size] of image.dataIn!(start, start + length)) {
      const end = Math.min(at + size, start + length);
      for (let offset = Math.max(at, start); offset < end; offset += READ_SIZE) {
        signal?.throwIfAborted();
        const part = Math.min(READ_SIZE, end - offset);
        const data = await image.read(offset, part, buffer);
        bytes += part;
        if (!ZEROES.subarray(0, part).equals(data)) return { differsAt: offset, bytes };
      }
    }
  }
  return { bytes };
}
