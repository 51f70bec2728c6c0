// What to do with each range of a disk, from block status: full = the allocated extents
// (holes skipped, or WRITE_ZEROES with zeroHoles for a target holding old data; zero extents as
// WRITE_ZEROES); incremental = exactly the dirty extents, and inside them zero ranges as
// WRITE_ZEROES, never skipped (SPEC section 2, correctness rule).

import { BASE_ALLOCATION, DIRTY_BITMAP_PREFIX, STATE_DIRTY, STATE_HOLE, STATE_ZERO, mergeExtents, walkExtents, type Extent, type NbdConnection } from '../../src/nbd/index.js';

export interface WorkItem {
  readonly kind: 'copy' | 'zero';
  readonly offset: number;
  readonly length: number;
}

export interface PlanOptions {
  readonly bitmap?: string;
  /** Full mode: holes become WRITE_ZEROES too (the target holds old data, e.g. an NBD restore target). */
  readonly zeroHoles?: boolean;
  /** Largest READ/WRITE to issue. */
  readonly copySize: number;
  /** Largest WRITE_ZEROES to issue (smaller = finer progress, more parallelism). */
  readonly zeroSize: number;
}

// Ranges to copy or zero, in disk order, already cut to request size.
export async function* planWork(control: NbdConnection, options: PlanOptions): AsyncGenerator<WorkItem> {
  for await (const range of plannedRanges(control, options.bitmap, options.zeroHoles === true)) {
    const size = range.kind === 'copy' ? options.copySize : options.zeroSize;
    let offset = range.offset;
    const end = range.offset + range.length;
    while (offset < end) {
      // Cut at multiples of the request size so requests stay aligned.
      const next = Math.min(end, (Math.floor(offset / size) + 1) * size);
      yield { kind: range.kind, offset, length: next - offset };
      offset = next;
    }
  }
}

// Bytes the plan will touch (the "bytesToDo" of the progress lines).
export async function countWork(control: NbdConnection, bitmap: string | undefined, zeroHoles = false): Promise<number> {
  let total = 0;
  for await (const range of plannedRanges(control, bitmap, zeroHoles)) total += range.length;
  return total;
}

async function* plannedRanges(control: NbdConnection, bitmap: string | undefined, zeroHoles: boolean): AsyncGenerator<WorkItem> {
  const hasAllocation = control.hasMetaContext(BASE_ALLOCATION);
  if (bitmap === undefined) {
    // A server without base:allocation: everything is data (reads of zeroes still go as zeroes).
    if (!hasAllocation) return yield* whole(0, control.size);
    for await (const extent of mergeExtents(walkExtents(control, BASE_ALLOCATION, 0, control.size))) {
      const isZero = (extent.flags & STATE_ZERO) !== 0;
      if (isZero && (extent.flags & STATE_HOLE) !== 0 && !zeroHoles) continue; // fresh target: a hole needs no write
      yield item(isZero ? 'zero' : 'copy', extent);
    }
    return;
  }
  for await (const dirty of mergeExtents(walkExtents(control, DIRTY_BITMAP_PREFIX + bitmap, 0, control.size))) {
    if (!(dirty.flags & STATE_DIRTY)) continue;
    if (!hasAllocation) {
      yield* whole(dirty.offset, dirty.length);
      continue;
    }
    // Every dirty byte is written: zero or hole -> WRITE_ZEROES, data -> copied.
    const inner = walkExtents(control, BASE_ALLOCATION, dirty.offset, dirty.offset + dirty.length);
    for await (const extent of mergeExtents(kindOnly(inner))) yield item(extent.flags ? 'zero' : 'copy', extent);
  }
}

// Inside a dirty range only "reads as zero" matters, so join HOLE|ZERO with ZERO.
async function* kindOnly(extents: AsyncIterable<Extent>): AsyncGenerator<Extent> {
  for await (const extent of extents) yield { ...extent, flags: extent.flags & STATE_ZERO ? 1 : 0 };
}

async function* whole(offset: number, length: number): AsyncGenerator<WorkItem> {
  if (length > 0) yield { kind: 'copy', offset, length };
}

function item(kind: WorkItem['kind'], extent: Extent): WorkItem {
  return { kind, offset: extent.offset, length: extent.length };
}
