// The bytes of a bucket view's objects (docs/copies.md#reading-straight-from-a-bucket): blocks of
// 4 MiB, each one ranged GET of the object as it was when the view opened (its version, and its
// ETag: in a bucket without versions, a GET of another object put under the key since fails rather
// than mix two files' bytes), kept in memory
// while they may be read again. Each object has its own stream: reads that go on where the last
// one of that object ended grow its read-ahead (2, 4, 8… blocks, up to the view's read-ahead), so
// a layer read in order has that many GETs in flight before QEMU asks for them. A qcow2 object
// holds only allocated clusters, in the order they were written, so reading ahead in the object
// follows its allocation map; a jump elsewhere (metadata, another layer's turn) starts small again.
//
// Memory: at most `kept` blocks (kept-blocks.ts; read-ahead ÷ 4 MiB, twice, plus 8) are held, the ones in flight
// included; a block a reader waits for is fetched even when all of them are in flight.
//
// A block is kept as the pieces its GET's body came in (one, from an http:// endpoint:
// plain-http-ranges.ts), and a read is answered with slices of them: no byte is copied between the
// block and the reader's socket (docs/copies.md#reading-straight-from-a-bucket).
//
// Buffers are reused: a block that has left the kept ones goes back to a pool once no read's slices
// of it are still out (each read is released when its reply has been written), and the next GET
// fills it. A new 4 MiB buffer per GET cost the view 0.4 CPU-s per GiB more, its pages handed out
// fresh by the kernel and collected by V8 (bench/README.md#s3-lazy-restore).

import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ahead, BLOCK, keptBlocks, reuse, wanted, type KeptBlocks, type Pieces } from './kept-blocks.js';
import type { ServedObject, RangeGet } from './served-object.js';
export type { ServedObject, RangeGet } from './served-object.js';

export { BLOCK } from './kept-blocks.js';
/** The default read-ahead of a view: 64 MiB, 16 GETs of 4 MiB in flight per object read in order. */
export const DEFAULT_READ_AHEAD = 64 * 1024 * 1024;
const FIRST_AHEAD = 2;
const SPARE_BLOCKS = 8;

/** The object under `key` now, pinned to its version (where the bucket keeps versions) and its ETag. */
export async function pinObject(
  client: S3Client,
  bucket: string,
  key: string,
  listedSize: number,
): Promise<ServedObject> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return {
    key,
    size: head.ContentLength ?? listedSize,
    ...(head.VersionId !== undefined && head.VersionId !== 'null' && { versionId: head.VersionId }),
    ...(head.ETag !== undefined && { etag: head.ETag }),
  };
}

// The SDK's GET, its body kept as it came off the socket (Node.js: a Readable of Buffers).
export function sdkRangeGet(client: S3Client, bucket: string): RangeGet {
  return async (object, start, end) => {
    const answer = await client.send(
      new GetObjectCommand({
        Bucket: bucket,
        Key: object.key,
        VersionId: object.versionId,
        IfMatch: object.etag,
        Range: `bytes=${start}-${end}`,
      }),
    );
    const parts: Buffer[] = [];
    for await (const chunk of answer.Body as AsyncIterable<Uint8Array>)
      if (chunk.length > 0)
        parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    return parts;
  };
}

/** A read's bytes: slices of the blocks, valid until release() (then their buffers may be refilled). */
export interface BlockRead {
  readonly slices: readonly Buffer[];
  release(): void;
}

export interface BucketBlocks {
  /** `length` bytes of the object at `offset` (within its size), as slices of the blocks, in order. */
  read(name: string, object: ServedObject, offset: number, length: number): Promise<BlockRead>;
  served(): { readonly requests: number; readonly bytes: number };
  /** Blocks held now (in flight or read): never more than keptBlocks, besides blocks waited for. */
  held(): number;
  readonly keptBlocks: number;
}

// The slices of `pieces` that hold the block's bytes from..to (exclusive), in order.
function slicesOf(pieces: Pieces, from: number, to: number, into: Buffer[]): void {
  const { parts, starts } = pieces;
  // The last piece that starts at or before `from`.
  let low = 0;
  let high = parts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (starts[middle]! <= from) low = middle;
    else high = middle - 1;
  }
  for (let index = low; index < parts.length && starts[index]! < to; index++) {
    const start = starts[index]!;
    const part = parts[index]!;
    into.push(part.subarray(Math.max(0, from - start), Math.min(part.length, to - start)));
  }
}

export function bucketBlocks(get: RangeGet, readAhead: number = DEFAULT_READ_AHEAD): BucketBlocks {
  const most = Math.max(1, Math.floor(readAhead / BLOCK));
  const kept = keptBlocks(get, 2 * most + SPARE_BLOCKS);
  // Per object: the block after its last read, and how far ahead it reads now.
  const streams = new Map<string, Stream>();
  return {
    read: (name, object, offset, length) => readBlocks(kept, streams, most, name, object, offset, length),
    served: () => ({ requests: kept.requests, bytes: kept.bytes }),
    held: () => kept.blocks.size,
    keptBlocks: kept.keptBlocks,
  };
}

// Where an object's last read ended (the block after it), and how many blocks it reads ahead now.
interface Stream {
  readonly next: number;
  readonly ahead: number;
}

// One read: its blocks wanted, the next ones read ahead as far as the object's stream reaches.
async function readBlocks(
  kept: KeptBlocks,
  streams: Map<string, Stream>,
  most: number,
  name: string,
  object: ServedObject,
  offset: number,
  length: number,
): Promise<BlockRead> {
  const first = Math.floor(offset / BLOCK);
  const last = Math.floor((offset + length - 1) / BLOCK);
  const lastBlock = Math.ceil(object.size / BLOCK) - 1;
  const stream = streams.get(name);
  // In order: this read starts in the block the last one ended in, or the next.
  const inOrder = stream !== undefined && first >= stream.next - 1 && first <= stream.next;
  const reach = inOrder ? Math.min(most, stream.ahead * 2) : Math.min(most, FIRST_AHEAD);
  streams.set(name, { next: last + 1, ahead: inOrder ? Math.max(stream.ahead, reach) : reach });
  const held = Array.from({ length: last - first + 1 }, (_, at) => wanted(kept, name, object, first + at));
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    for (const block of held) {
      block.reads--;
      reuse(kept, block);
    }
  };
  for (let index = last + 1; index <= Math.min(lastBlock, last + reach); index++)
    if (!ahead(kept, name, object, index)) break;
  let blocksRead: Pieces[];
  try {
    blocksRead = await Promise.all(held.map((block) => block.bytes));
  } catch (error) {
    release();
    throw error;
  }
  const slices: Buffer[] = [];
  blocksRead.forEach((pieces, at) => {
    const blockStart = (first + at) * BLOCK;
    slicesOf(pieces, Math.max(0, offset - blockStart), Math.min(BLOCK, offset + length - blockStart), slices);
  });
  return { slices, release };
}
