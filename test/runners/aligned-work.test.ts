// The plan for a compressing target (runners/transfer/work-plan.ts, alignedWork): whatever mix of
// unaligned copy and zero ranges comes in, what goes out is whole aligned blocks, each in one
// item, covering every byte that must be written; decided as the ranges stream in.

import { describe, expect, it } from 'vitest';
import { SendenseError } from '../../src/errors.js';
import { alignedWork, type AlignOptions, type WorkItem } from '../../runners/transfer/work-plan.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const BLOCK = 64 * KiB;

async function plan(ranges: readonly WorkItem[], options: Partial<AlignOptions> = {}): Promise<WorkItem[]> {
  const items: WorkItem[] = [];
  for await (const item of alignedWork(ranges, {
    align: BLOCK,
    size: 16 * MiB,
    copySize: 2 * MiB,
    zeroSize: 256 * MiB,
    ...options,
  }))
    items.push(item);
  return items;
}

const copy = (offset: number, length: number): WorkItem => ({ kind: 'copy', offset, length });
const zero = (offset: number, length: number): WorkItem => ({ kind: 'zero', offset, length });

// What each block must become: copied when any copy range touches it or zero ranges cover it in
// part, zeroed when zero ranges cover it whole, left alone when nothing touches it.
function expectedBlocks(ranges: readonly WorkItem[], { align, size }: AlignOptions): Map<number, WorkItem['kind']> {
  const blocks = new Map<number, { copy: boolean; zeroBytes: number }>();
  for (const { kind, offset, length } of ranges) {
    for (let at = offset; at < offset + length;) {
      const start = at - (at % align);
      const next = Math.min(offset + length, start + align);
      const block = blocks.get(start) ?? { copy: false, zeroBytes: 0 };
      if (kind === 'copy') block.copy = true;
      else block.zeroBytes += next - at;
      blocks.set(start, block);
      at = next;
    }
  }
  const kinds = new Map<number, WorkItem['kind']>();
  for (const [start, block] of blocks)
    kinds.set(start, !block.copy && block.zeroBytes === Math.min(align, size - start) ? 'zero' : 'copy');
  return kinds;
}

// The rules every aligned plan keeps, checked against the blocks the ranges demand.
function expectAlignedPlan(items: readonly WorkItem[], ranges: readonly WorkItem[], options: AlignOptions): void {
  const { align, size, copySize, zeroSize } = options;
  let last = 0;
  const got = new Map<number, WorkItem['kind']>();
  for (const item of items) {
    const end = item.offset + item.length;
    const where = JSON.stringify(item);
    expect(item.length, where).toBeGreaterThan(0);
    expect(item.offset % align, `${where} starts on a block`).toBe(0);
    expect(end % align === 0 || end === size, `${where} ends on a block or at the disk's end`).toBe(true);
    expect(item.offset, `${where} in disk order, disjoint`).toBeGreaterThanOrEqual(last);
    const cut = item.kind === 'copy' ? copySize : zeroSize;
    expect(Math.floor(item.offset / cut), `${where} within one request`).toBe(Math.floor((end - 1) / cut));
    for (let start = item.offset; start < end; start += align) got.set(start, item.kind);
    last = end;
  }
  expect(Object.fromEntries(got)).toEqual(Object.fromEntries(expectedBlocks(ranges, options)));
  // Neighbours of one kind are one item unless a request boundary is between them.
  for (const [index, item] of items.entries()) {
    const next = items[index + 1];
    if (next === undefined || next.kind !== item.kind || next.offset !== item.offset + item.length) continue;
    expect(
      next.offset % (item.kind === 'copy' ? copySize : zeroSize),
      `${JSON.stringify(item)} and ${JSON.stringify(next)} are split at a request boundary`,
    ).toBe(0);
  }
}

// Deterministic pseudo-random numbers (xorshift32), so a failure can be run again.
function random(seed: number): (below: number) => number {
  let state = seed || 1;
  return (below) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % below;
  };
}

describe('alignedWork: whole blocks for a compressing target', () => {
  it('4 KiB writes at odd places in one block and across a boundary: each block copied whole, once', async () => {
    const ranges = [copy(4 * KiB, 4 * KiB), copy(12 * KiB, 4 * KiB), copy(60 * KiB, 72 * KiB)];
    expect(await plan(ranges)).toEqual([copy(0, 3 * BLOCK)]);
  });

  it('zeroes: whole blocks of zero ranges are zeroed, a block zero only in part is copied', async () => {
    // [0, 64K) zero in two ranges; [64K, 128K) half zero; [192K, 320K) zero; [320K, 324K) data.
    const ranges = [
      zero(0, 32 * KiB),
      zero(32 * KiB, 32 * KiB),
      zero(64 * KiB, 32 * KiB),
      zero(192 * KiB, 128 * KiB),
      copy(320 * KiB, 4 * KiB),
    ];
    expect(await plan(ranges)).toEqual([
      zero(0, BLOCK),
      copy(BLOCK, BLOCK),
      zero(3 * BLOCK, 2 * BLOCK),
      copy(5 * BLOCK, BLOCK),
    ]);
  });

  it('a zero range inside a dirty data area: the blocks it covers whole are zeroed, its edges copied', async () => {
    const ranges = [copy(1 * MiB, 100 * KiB), zero(1 * MiB + 100 * KiB, 300 * KiB), copy(1 * MiB + 400 * KiB, 8 * KiB)];
    expect(await plan(ranges)).toEqual([
      copy(1 * MiB, 2 * BLOCK),
      zero(1 * MiB + 2 * BLOCK, 4 * BLOCK),
      copy(1 * MiB + 6 * BLOCK, BLOCK),
    ]);
  });

  it('cut at the request size in disk order, across the ranges it came in', async () => {
    const ranges = [copy(100 * KiB, 3 * MiB), copy(3 * MiB + 100 * KiB, 2 * MiB), zero(5 * MiB + 128 * KiB, 5 * MiB)];
    expect(await plan(ranges, { zeroSize: 4 * MiB })).toEqual([
      copy(64 * KiB, 2 * MiB - 64 * KiB),
      copy(2 * MiB, 2 * MiB),
      copy(4 * MiB, 5 * MiB + 128 * KiB - 4 * MiB),
      zero(5 * MiB + 128 * KiB, 8 * MiB - 5 * MiB - 128 * KiB),
      zero(8 * MiB, 10 * MiB + 128 * KiB - 8 * MiB),
    ]);
  });

  it('the last block ends at the disk end, zeroed whole or copied', async () => {
    const size = 1 * MiB + 4608;
    expect(await plan([zero(1 * MiB, 4608)], { size })).toEqual([zero(1 * MiB, 4608)]);
    expect(await plan([zero(1 * MiB, 512), copy(1 * MiB + 4096, 512)], { size })).toEqual([copy(1 * MiB, 4608)]);
    expect(await plan([copy(1 * MiB - 512, 1024)], { size })).toEqual([copy(1 * MiB - BLOCK, BLOCK + 4608)]);
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`random unaligned copy/zero mixes (seed ${seed}) give disjoint aligned items covering what must be written`, async () => {
      const next = random(seed * 7919);
      const align = [512, 4 * KiB, 64 * KiB, 2 * MiB][seed % 4]!;
      // At most 4096 blocks; an odd seed's disk ends inside a block.
      const options: AlignOptions = {
        align,
        size: Math.min(32 * MiB, 4096 * align) - (seed % 2) * 1536,
        copySize: 2 * MiB,
        zeroSize: 4 * MiB,
      };
      for (let round = 0; round < 20; round++) {
        const ranges: WorkItem[] = [];
        // Ranges of 512 bytes to an eighth of the disk, sometimes adjacent, sometimes apart: disk order, disjoint.
        for (let at = next(256 * KiB); at < options.size;) {
          const length = Math.min(
            options.size - at,
            512 * (1 + (next(4) === 0 ? next(options.size / 4096) : next(16))),
          );
          ranges.push({ kind: next(2) === 0 ? 'copy' : 'zero', offset: at, length });
          at += length + (next(3) === 0 ? 0 : 512 * next(300));
        }
        expectAlignedPlan(await plan(ranges, options), ranges, options);
      }
    });
  }

  it('hands out items while the ranges still come: a 1 TiB dirty disk is never held whole', async () => {
    let taken = 0;
    async function* ranges(): AsyncGenerator<WorkItem> {
      // 4096 adjacent pieces of 256 MiB (as the incremental's lookups cut a dirty range), unaligned at the start.
      for (let index = 0; index < 4096; index++) {
        taken += 1;
        yield copy(index === 0 ? 4 * KiB : index * 256 * MiB, index === 0 ? 256 * MiB - 4 * KiB : 256 * MiB);
      }
    }
    const items: WorkItem[] = [];
    for await (const item of alignedWork(ranges(), {
      align: BLOCK,
      size: 1024 * 1024 * MiB,
      copySize: 2 * MiB,
      zeroSize: 256 * MiB,
    })) {
      items.push(item);
      if (items.length === 200) break;
    }
    expect(items.slice(0, 2)).toEqual([copy(0, 2 * MiB), copy(2 * MiB, 2 * MiB)]);
    expect(taken).toBeLessThanOrEqual(2);
  });

  it('a request size that is not whole blocks, or ranges out of order, are refused', async () => {
    await expect(plan([copy(0, BLOCK)], { copySize: 2 * MiB - 4 * KiB })).rejects.toThrow(SendenseError);
    await expect(plan([copy(0, BLOCK)], { copySize: 32 * KiB })).rejects.toThrow(
      'the request size (32768 bytes) is not a multiple of the aligned block (65536 bytes)',
    );
    await expect(plan([copy(0, BLOCK)], { zeroSize: 100 * KiB })).rejects.toThrow('the zero request size');
    await expect(plan([copy(2 * BLOCK, BLOCK), copy(BLOCK, BLOCK)])).rejects.toThrow(/work plan out of order/);
  });
});
