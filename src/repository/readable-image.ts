// What a check reads an image through: its file straight (src/qemu/image-file-reader.ts) where the
// file holds the guest's bytes as they are, or an NBD connection (qemu-nbd) for anything else.
// Both say where the image may hold data, so the checks read zeroes only where something is
// allocated (docs/how-it-works.md#verification).

import {
  BASE_ALLOCATION,
  NbdConnection,
  STATE_ZERO,
  mergeExtents,
  walkExtents,
  type NbdAddress,
} from '../nbd/index.js';
import type { ImageFileReader } from '../qemu/image-file-reader.js';
import type { Interval } from './intervals.js';

export interface ReadableImage {
  readonly size: number;
  /** The guest bytes at [offset, offset + length), read into `buffer` (at least `length` long). */
  read(offset: number, length: number, buffer: Buffer): Promise<Uint8Array>;
  /** The parts of [start, end) that may hold bytes other than zeroes, in order; undefined when the image cannot say. */
  readonly dataIn?: (start: number, end: number) => AsyncIterable<Interval> | Iterable<Interval>;
}

export function fileImage(file: ImageFileReader): ReadableImage {
  return {
    size: file.size,
    read: (offset, length, buffer) => file.read(offset, length, buffer),
    dataIn: (start, end) => file.dataIn(start, end - start),
  };
}

export function nbdImage(connection: NbdConnection): ReadableImage {
  return {
    size: connection.size,
    read: async (offset, length, buffer) => (await connection.read(offset, length, buffer)).data,
    dataIn: connection.hasMetaContext(BASE_ALLOCATION)
      ? (start, end) => nonZeroExtents(connection, start, end)
      : undefined,
  };
}

/** fn with the image an NBD server exports, asked where it holds data (base:allocation); closed after. */
export async function withNbdImage<T>(address: NbdAddress, fn: (image: ReadableImage) => Promise<T>): Promise<T> {
  const connection = await NbdConnection.connect(address, { metaContexts: [BASE_ALLOCATION] });
  try {
    return await fn(nbdImage(connection));
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function* nonZeroExtents(connection: NbdConnection, start: number, end: number): AsyncIterable<Interval> {
  for await (const extent of mergeExtents(walkExtents(connection, BASE_ALLOCATION, start, end))) {
    if ((extent.flags & STATE_ZERO) === 0) yield [extent.offset, extent.length];
  }
}
