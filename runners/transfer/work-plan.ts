// What to do with each range of a disk, from block status: full = the allocated extents
// (holes skipped, or WRITE_ZEROES with zeroHoles for a target holding old data; zero extents as
// WRITE_ZEROES); incremental = exactly the dirty extents, and inside them zero ranges as
// WRITE_ZEROES, never skipped (docs/how-it-works.md#change-tracking-by-source, correctness rule).

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

// Bytes the plan will touch (the "bytesToDo" of the progress lines). An incremental writes
// every dirty byte, so the dirty extents alone give it.
export async function countWork(control: NbdConnection, bitmap: string | undefined, zeroHoles = false): Promise<number> {
  let total = 0;
  const ranges = bitmap === undefined ? plannedRanges(control, undefined, zeroHoles) : dirtyRanges(control, bitmap);
  for await (const range of ranges) total += range.length;
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
  if (!hasAllocation) {
    for await (const dirty of dirtyRanges(control, bitmap)) yield* whole(dirty.offset, dirty.length);
    return;
  }
  // Every dirty byte is written: zero or hole -> WRITE_ZEROES, data -> copied. The allocation of
  // the next dirty ranges is asked for while earlier ones are answered: one round trip per
  // range, one after another, would cost more than moving the data of a small incremental.
  const lookups: Promise<WorkItem[]>[] = [];
  const dirty = dirtyPieces(control, bitmap);
  let more = true;
  while (more || lookups.length > 0) {
    while (more && lookups.length < LOOKAHEAD) {
      const next = await dirty.next();
      if (next.done) more = false;
      else {
        const lookup = kindsInside(control, next.value);
        lookup.catch(() => undefined); // awaited in turn below; a failure must not go unhandled while it waits
        lookups.push(lookup);
      }
    }
    const first = lookups.shift();
    if (first !== undefined) yield* await first;
  }
}

// Dirty ranges asked about at once; and the largest piece of one (its extents are held in memory).
const LOOKAHEAD = 16;
const LOOKUP_SPAN = 256 * 1024 * 1024;

async function* dirtyRanges(control: NbdConnection, bitmap: string): AsyncGenerator<Extent> {
  for await (const extent of mergeExtents(walkExtents(control, DIRTY_BITMAP_PREFIX + bitmap, 0, control.size))) {
    if (extent.flags & STATE_DIRTY) yield extent;
  }
}

// Dirty ranges cut at multiples of LOOKUP_SPAN, so one lookup's extents stay few.
async function* dirtyPieces(control: NbdConnection, bitmap: string): AsyncGenerator<Extent> {
  for await (const range of dirtyRanges(control, bitmap)) {
    for (let offset = range.offset; offset < range.offset + range.length;) {
      const next = Math.min(range.offset + range.length, (Math.floor(offset / LOOKUP_SPAN) + 1) * LOOKUP_SPAN);
      yield { offset, length: next - offset, flags: range.flags };
      offset = next;
    }
  }
}

// A dirty range as zero and copy items, from base:allocation.
async function kindsInside(control: NbdConnection, range: Extent): Promise<WorkItem[]> {
  const items: WorkItem[] = [];
  const inner = walkExtents(control, BASE_ALLOCATION, range.offset, range.offset + range.length);
  for await (const extent of mergeExtents(kindOnly(inner))) items.push(item(extent.flags ? 'zero' : 'copy', extent));
  return items;
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
