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
// Memory: at most `kept` blocks (read-ahead ÷ 4 MiB, twice, plus 8) are held, the ones in flight
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

export const BLOCK = 4 * 1024 * 1024;
/** The default read-ahead of a view: 64 MiB, 16 GETs of 4 MiB in flight per object read in order. */
export const DEFAULT_READ_AHEAD = 64 * 1024 * 1024;
const FIRST_AHEAD = 2;
const SPARE_BLOCKS = 8;

export interface ServedObject {
  readonly key: string;
  readonly size: number;
  readonly versionId?: string;
  /** The ETag seen when pinned: each GET asks for it (If-Match). */
  readonly etag?: string;
}

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

/**
 * Bytes start..end (inclusive) of `object`, as the pieces they came in, in order. `into`, when
 * given, is a buffer of exactly that length the GET may fill and return as its one piece.
 */
export type RangeGet = (object: ServedObject, start: number, end: number, into?: Buffer) => Promise<readonly Buffer[]>;

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

interface Held {
  readonly bytes: Promise<Pieces>;
  done: boolean;
  // The buffer given to its GET (a pooled one), reused once the block has left and no read holds it.
  readonly buffer: Buffer;
  reads: number;
  gone: boolean;
}

/** A block's bytes as they came: the pieces, and where each starts in the block. */
interface Pieces {
  readonly parts: readonly Buffer[];
  readonly starts: readonly number[];
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
  const keptBlocks = 2 * most + SPARE_BLOCKS;
  let requests = 0;
  let bytes = 0;
  // Blocks by "<export>\0<index>", least recently used first (a Map keeps insertion order).
  const blocks = new Map<string, Held>();
  // Per object: the block after its last read, and how far ahead it reads now.
  const streams = new Map<string, { next: number; ahead: number }>();

  // Makes room for one block: the least recently used block already read goes.
  const room = (): boolean => {
    if (blocks.size < keptBlocks) return true;
    for (const [id, held] of blocks)
      if (held.done) {
        blocks.delete(id);
        leave(held);
        return true;
      }
    return false;
  };

  // Whole buffers of BLOCK bytes no block holds any more.
  const pool: Buffer[] = [];
  const reuse = (held: Held): void => {
    if (held.gone && held.reads === 0 && pool.length < keptBlocks) pool.push(held.buffer);
  };
  // A block out of the kept ones: its buffer goes back once no read holds it.
  const leave = (held: Held): void => {
    held.gone = true;
    reuse(held);
  };

  const fetchBlock = (id: string, object: ServedObject, index: number): Held => {
    const start = index * BLOCK;
    const end = Math.min(object.size, start + BLOCK) - 1;
    requests++;
    const buffer = pool.pop() ?? Buffer.allocUnsafe(BLOCK);
    const read = get(object, start, end, buffer.subarray(0, end - start + 1)).then((parts) => {
      const starts: number[] = [];
      let got = 0;
      for (const part of parts) {
        starts.push(got);
        got += part.length;
      }
      if (got !== end - start + 1) throw new Error(`${object.key}: ${got} bytes came for ${start}-${end}`);
      bytes += got;
      return { parts, starts };
    });
    const held: Held = { bytes: read, done: false, buffer, reads: 0, gone: false };
    read.then(
      () => (held.done = true),
      // A failed read is not kept: the next one asks again.
      () => {
        if (blocks.get(id) === held) blocks.delete(id);
        leave(held);
      },
    );
    return held;
  };

  // A block a reader waits for: kept, beyond the bound while every kept block is in flight; held
  // by the read (its buffer not reused) from now until the read is released.
  const wanted = (name: string, object: ServedObject, index: number): Held => {
    const id = `${name}\0${index}`;
    const cached = blocks.get(id);
    if (cached !== undefined) {
      blocks.delete(id);
      blocks.set(id, cached);
      cached.reads++;
      return cached;
    }
    const held = fetchBlock(id, object, index);
    held.reads++;
    room();
    blocks.set(id, held);
    return held;
  };

  // A block read ahead: only into room, never pushing out one still in flight.
  const ahead = (name: string, object: ServedObject, index: number): boolean => {
    const id = `${name}\0${index}`;
    if (blocks.has(id)) return true;
    if (!room()) return false;
    const held = fetchBlock(id, object, index);
    held.bytes.catch(() => {});
    blocks.set(id, held);
    return true;
  };

  const read = async (name: string, object: ServedObject, offset: number, length: number): Promise<BlockRead> => {
    const first = Math.floor(offset / BLOCK);
    const last = Math.floor((offset + length - 1) / BLOCK);
    const lastBlock = Math.ceil(object.size / BLOCK) - 1;
    const stream = streams.get(name);
    // In order: this read starts in the block the last one ended in, or the next.
    const inOrder = stream !== undefined && first >= stream.next - 1 && first <= stream.next;
    const reach = inOrder ? Math.min(most, stream.ahead * 2) : Math.min(most, FIRST_AHEAD);
    streams.set(name, { next: last + 1, ahead: inOrder ? Math.max(stream.ahead, reach) : reach });
    const held = Array.from({ length: last - first + 1 }, (_, at) => wanted(name, object, first + at));
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const block of held) {
        block.reads--;
        reuse(block);
      }
    };
    for (let index = last + 1; index <= Math.min(lastBlock, last + reach); index++)
      if (!ahead(name, object, index)) break;
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
  };

  return { read, served: () => ({ requests, bytes }), held: () => blocks.size, keptBlocks };
}
