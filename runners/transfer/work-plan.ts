// What to do with each range of a disk, from block status: full = the allocated extents
// (holes skipped, or WRITE_ZEROES with zeroHoles for a target holding old data; zero extents as
// WRITE_ZEROES); incremental = exactly the dirty extents, and inside them zero ranges as
// WRITE_ZEROES, never skipped (docs/how-it-works.md#change-tracking-by-source, correctness rule).
// With `align` (a compressing target, docs/encryption.md#compression) the plan is widened to whole
// aligned blocks, each in one item: see alignedWork.

import { SendenseError } from '../../src/errors.js';
import {
  BASE_ALLOCATION,
  DIRTY_BITMAP_PREFIX,
  STATE_DIRTY,
  STATE_HOLE,
  STATE_ZERO,
  mergeExtents,
  walkExtents,
  type Extent,
  type NbdConnection,
} from '../../src/nbd/index.js';

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
  /** Whole aligned blocks of this many bytes only, each written once (alignedWork). */
  readonly align?: number;
}

// Ranges to copy or zero, in disk order, already cut to request size.
export async function* planWork(control: NbdConnection, options: PlanOptions): AsyncGenerator<WorkItem> {
  const ranges = plannedRanges(control, options.bitmap, options.zeroHoles === true);
  if (options.align !== undefined)
    return yield* alignedWork(ranges, {
      align: options.align,
      size: control.size,
      copySize: options.copySize,
      zeroSize: options.zeroSize,
    });
  for await (const range of ranges) yield* cutToSize(range, options.copySize, options.zeroSize);
}

/** A range cut at multiples of the request size (copySize or zeroSize by its kind), so requests stay aligned. */
export function* cutToSize(range: WorkItem, copySize: number, zeroSize: number): Generator<WorkItem> {
  const size = range.kind === 'copy' ? copySize : zeroSize;
  const end = range.offset + range.length;
  for (let offset = range.offset; offset < end;) {
    const next = Math.min(end, (Math.floor(offset / size) + 1) * size);
    yield { kind: range.kind, offset, length: next - offset };
    offset = next;
  }
}

// Bytes the plan will touch (the "bytesToDo" of the progress lines). An incremental writes
// every dirty byte, so the dirty extents alone give it; aligned, every block they touch.
export async function countWork(
  control: NbdConnection,
  bitmap: string | undefined,
  zeroHoles = false,
  align?: number,
): Promise<number> {
  let total = 0;
  const ranges: AsyncIterable<Extent | WorkItem> =
    bitmap === undefined ? plannedRanges(control, undefined, zeroHoles) : dirtyRanges(control, bitmap);
  // Aligned: the blocks the ranges touch, whatever their kind.
  const counted =
    align === undefined
      ? ranges
      : alignedWork(asCopies(ranges), { align, size: control.size, copySize: COUNT_CUT, zeroSize: COUNT_CUT });
  for await (const range of counted) total += range.length;
  return total;
}

// Counting cuts nothing that matters: large pieces (a multiple of any block size).
const COUNT_CUT = 1024 * 1024 * 1024;

async function* asCopies(ranges: AsyncIterable<Extent | WorkItem>): AsyncGenerator<WorkItem> {
  for await (const range of ranges) yield { kind: 'copy', offset: range.offset, length: range.length };
}

export interface AlignOptions {
  /** The block size: a power of two. */
  readonly align: number;
  /** The disk's size: its last block may be shorter than `align`. */
  readonly size: number;
  /** Largest copy item (a multiple of `align`). */
  readonly copySize: number;
  /** Largest zero item (a multiple of `align`). */
  readonly zeroSize: number;
}

/**
 * The plan for a target that takes only whole aligned blocks, each written once (QEMU's compress
 * filter: a second write into a cluster it has written fails, docs/encryption.md#compression).
 * `ranges` (disk order, disjoint) become items on block boundaries (or the disk's end): a block
 * touched by a copy range, or only partly covered by zero ranges, is copied whole (its other
 * bytes read from the source: in an incremental they are unchanged since the last backup, so
 * reading them is right); a block wholly covered by zero ranges is zeroed; no block is in two
 * items. Items are cut at multiples of copySize/zeroSize, in disk order, handed out as soon as
 * they are decided: only the block partly covered so far and one run of decided blocks are held.
 */
export async function* alignedWork(
  ranges: AsyncIterable<WorkItem> | Iterable<WorkItem>,
  options: AlignOptions,
): AsyncGenerator<WorkItem> {
  const blocks = new AlignedBlocks(options);
  for await (const range of ranges) yield* blocks.add(range);
  yield* blocks.end();
}

class AlignedBlocks {
  // The block touched so far only in part: ranges after it may touch it too.
  private open: { readonly offset: number; readonly end: number; copy: boolean; zeroBytes: number } | undefined;
  // Decided blocks not yet handed out: one kind, contiguous, shorter than one cut.
  private run: { readonly kind: WorkItem['kind']; offset: number; end: number } | undefined;
  // Where the last range ended: ranges must come in disk order.
  private last = 0;

  constructor(private readonly options: AlignOptions) {
    const { align, copySize, zeroSize } = options;
    if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0)
      throw new SendenseError(`bad block size for aligned writes: ${align}`);
    for (const [what, size] of [
      ['request size', copySize],
      ['zero request size', zeroSize],
    ] as const) {
      if (size < align || size % align !== 0)
        throw new SendenseError(`the ${what} (${size} bytes) is not a multiple of the aligned block (${align} bytes)`);
    }
  }

  *add(range: WorkItem): Generator<WorkItem> {
    const { align, size } = this.options;
    const { kind, offset } = range;
    const end = offset + range.length;
    if (range.length <= 0) return;
    if (offset < this.last || end > size)
      throw new SendenseError(
        `work plan out of order: range ${offset}+${range.length} after ${this.last} (disk of ${size} bytes)`,
      );
    this.last = end;
    const first = offset - (offset % align);
    // A block before this range's first is touched by nothing more.
    if (this.open !== undefined && this.open.offset < first) yield* this.closeOpen();
    let at = offset;
    if (offset > first) {
      // Starts inside a block: that block joins the one touched so far (or opens).
      const blockEnd = Math.min(first + align, size);
      at = Math.min(end, blockEnd);
      this.touch(first, blockEnd, kind, at - offset);
      // Ends with the block: nothing after this range can touch it.
      if (at === blockEnd) yield* this.closeOpen();
      if (at === end) return;
    }
    // Whole blocks this range covers alone.
    const wholeEnd = end === size ? size : end - (end % align);
    if (wholeEnd > at) {
      yield* this.decide(kind, at, wholeEnd);
      at = wholeEnd;
    }
    // Ends inside a block: it stays open for the next ranges.
    if (at < end) this.touch(at, Math.min(at + align, size), kind, end - at);
  }

  *end(): Generator<WorkItem> {
    if (this.open !== undefined) yield* this.closeOpen();
    if (this.run !== undefined) yield* this.handOut(true);
  }

  private touch(offset: number, end: number, kind: WorkItem['kind'], bytes: number): void {
    if (this.open !== undefined && this.open.offset !== offset)
      throw new SendenseError(`work plan: block at ${offset} opened while the one at ${this.open.offset} is open`);
    this.open ??= { offset, end, copy: false, zeroBytes: 0 };
    if (kind === 'copy') this.open.copy = true;
    else this.open.zeroBytes += bytes;
  }

  private *closeOpen(): Generator<WorkItem> {
    const open = this.open!;
    this.open = undefined;
    const allZero = !open.copy && open.zeroBytes === open.end - open.offset;
    yield* this.decide(allZero ? 'zero' : 'copy', open.offset, open.end);
  }

  // Blocks [offset, end) decided: they join the run, or end it and start the next.
  private *decide(kind: WorkItem['kind'], offset: number, end: number): Generator<WorkItem> {
    if (this.run !== undefined && (this.run.kind !== kind || this.run.end !== offset)) yield* this.handOut(true);
    if (this.run === undefined) this.run = { kind, offset, end };
    else this.run.end = end;
    yield* this.handOut(false);
  }

  // The run's items that are whole cuts (all of it with `all`); the rest may still grow.
  private *handOut(all: boolean): Generator<WorkItem> {
    const run = this.run!;
    const cut = run.kind === 'copy' ? this.options.copySize : this.options.zeroSize;
    while (run.offset < run.end) {
      const next = Math.min(run.end, (Math.floor(run.offset / cut) + 1) * cut);
      if (next === run.end && !all && next % cut !== 0) break;
      yield { kind: run.kind, offset: run.offset, length: next - run.offset };
      run.offset = next;
    }
    if (run.offset === run.end) this.run = undefined;
  }
}

async function* plannedRanges(
  control: NbdConnection,
  bitmap: string | undefined,
  zeroHoles: boolean,
): AsyncGenerator<WorkItem> {
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

/** Whether byte `offset` is dirty in `bitmap` (false past the disk's end: a shrink cut it off). */
export async function isMarked(control: NbdConnection, bitmap: string, offset: number): Promise<boolean> {
  if (offset >= control.size) return false;
  for await (const extent of walkExtents(control, DIRTY_BITMAP_PREFIX + bitmap, offset, offset + 1))
    return (extent.flags & STATE_DIRTY) !== 0;
  return false;
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
