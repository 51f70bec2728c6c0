// The blocks a bucket view holds (bucket-blocks.ts): each one ranged GET into a pooled buffer,
// least recently used first; at most `keptBlocks` of them, the ones in flight included, besides
// blocks a reader waits for. A block's buffer goes back to the pool once it has left the kept ones
// and no read's slices of it are still out.

import type { RangeGet, ServedObject } from './served-object.js';

export const BLOCK = 4 * 1024 * 1024;

export interface Held {
  readonly bytes: Promise<Pieces>;
  done: boolean;
  // The buffer given to its GET (a pooled one), reused once the block has left and no read holds it.
  readonly buffer: Buffer;
  reads: number;
  gone: boolean;
}

/** A block's bytes as they came: the pieces, and where each starts in the block. */
export interface Pieces {
  readonly parts: readonly Buffer[];
  readonly starts: readonly number[];
}

export interface KeptBlocks {
  readonly get: RangeGet;
  readonly keptBlocks: number;
  // Blocks by "<export>\0<index>", least recently used first (a Map keeps insertion order).
  readonly blocks: Map<string, Held>;
  // Whole buffers of BLOCK bytes no block holds any more.
  readonly pool: Buffer[];
  requests: number;
  bytes: number;
}

export function keptBlocks(get: RangeGet, keptBlocks: number): KeptBlocks {
  return { get, keptBlocks, blocks: new Map(), pool: [], requests: 0, bytes: 0 };
}

// A block a reader waits for: kept, beyond the bound while every kept block is in flight; held
// by the read (its buffer not reused) from now until the read is released.
export function wanted(kept: KeptBlocks, name: string, object: ServedObject, index: number): Held {
  const { blocks } = kept;
  const id = `${name}\0${index}`;
  const cached = blocks.get(id);
  if (cached !== undefined) {
    blocks.delete(id);
    blocks.set(id, cached);
    cached.reads++;
    return cached;
  }
  const held = fetchBlock(kept, id, object, index);
  held.reads++;
  room(kept);
  blocks.set(id, held);
  return held;
}

// A block read ahead: only into room, never pushing out one still in flight.
export function ahead(kept: KeptBlocks, name: string, object: ServedObject, index: number): boolean {
  const id = `${name}\0${index}`;
  if (kept.blocks.has(id)) return true;
  if (!room(kept)) return false;
  const held = fetchBlock(kept, id, object, index);
  held.bytes.catch(() => {});
  kept.blocks.set(id, held);
  return true;
}

// Its buffer back to the pool once the block has left and no read holds it.
export function reuse(kept: KeptBlocks, held: Held): void {
  if (held.gone && held.reads === 0 && kept.pool.length < kept.keptBlocks) kept.pool.push(held.buffer);
}

// Makes room for one block: the least recently used block already read goes.
function room(kept: KeptBlocks): boolean {
  if (kept.blocks.size < kept.keptBlocks) return true;
  for (const [id, held] of kept.blocks)
    if (held.done) {
      kept.blocks.delete(id);
      leave(kept, held);
      return true;
    }
  return false;
}

// A block out of the kept ones: its buffer goes back once no read holds it.
function leave(kept: KeptBlocks, held: Held): void {
  held.gone = true;
  reuse(kept, held);
}

function fetchBlock(kept: KeptBlocks, id: string, object: ServedObject, index: number): Held {
  const start = index * BLOCK;
  const end = Math.min(object.size, start + BLOCK) - 1;
  kept.requests++;
  const buffer = kept.pool.pop() ?? Buffer.allocUnsafe(BLOCK);
  const read = kept.get(object, start, end, buffer.subarray(0, end - start + 1)).then((parts) => {
    const starts: number[] = [];
    let got = 0;
    for (const part of parts) {
      starts.push(got);
      got += part.length;
    }
    if (got !== end - start + 1) throw new Error(`${object.key}: ${got} bytes came for ${start}-${end}`);
    kept.bytes += got;
    return { parts, starts };
  });
  const held: Held = { bytes: read, done: false, buffer, reads: 0, gone: false };
  read.then(
    () => (held.done = true),
    // A failed read is not kept: the next one asks again.
    () => {
      if (kept.blocks.get(id) === held) kept.blocks.delete(id);
      leave(kept, held);
    },
  );
  return held;
}
