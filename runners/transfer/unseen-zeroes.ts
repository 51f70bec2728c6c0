// An incremental's proof that the disk was shrunk and grown back since its parent point
// (docs/how-it-works.md#change-tracking-by-source): a guest's write or discard marks the bitmap
// dirty, but a shrink clears its bits past the cut and the grow adds clean ones. So a range the
// bitmap calls clean, that the source reads as zeroes while the target's backing chain (the parent
// point) holds data there, changed unseen. Metadata only: three block status walks, no data read.

import {
  BASE_ALLOCATION,
  DIRTY_BITMAP_PREFIX,
  STATE_DIRTY,
  STATE_ZERO,
  walkExtents,
  type Extent,
  type NbdConnection,
} from '../../src/nbd/index.js';

// The parent's data is known per cluster of the repository's files (qemu-img's default): a cluster
// holding some data may read zeroes elsewhere, where the source's finer grain says zero.
const CLUSTER = 64 * 1024;

/** The first such range that covers a whole cluster, or undefined (also when a side offers no block status to tell). */
export async function unseenZeroes(
  source: NbdConnection,
  target: NbdConnection,
  bitmap: string,
): Promise<Extent | undefined> {
  if (!source.hasMetaContext(BASE_ALLOCATION) || !target.hasMetaContext(BASE_ALLOCATION)) return undefined;
  const end = Math.min(source.size, target.size);
  const sides = [
    new Cursor(walkExtents(target, BASE_ALLOCATION, 0, end), (flags) => (flags & STATE_ZERO) === 0),
    new Cursor(walkExtents(source, BASE_ALLOCATION, 0, end), (flags) => (flags & STATE_ZERO) !== 0),
    new Cursor(walkExtents(source, DIRTY_BITMAP_PREFIX + bitmap, 0, end), (flags) => (flags & STATE_DIRTY) === 0),
  ];
  try {
    // Where the bytes that all three sides agree on began (undefined: a side rules out `at`).
    let agreed: number | undefined;
    for (let at = 0; at < end;) {
      const runs: Run[] = [];
      for (const side of sides) runs.push(await side.at(at));
      const failing = runs.filter((run) => !run.holds);
      if (failing.length === 0) {
        agreed ??= at;
        at = Math.min(end, ...runs.map((run) => run.end));
        const cluster = Math.ceil(agreed / CLUSTER) * CLUSTER;
        if (cluster < end && Math.min(cluster + CLUSTER, end) <= at)
          return { offset: agreed, length: at - agreed, flags: 0 };
        continue;
      }
      agreed = undefined;
      // Nothing holds before the furthest end of a run where one side rules it out.
      at = Math.max(...failing.map((run) => run.end));
    }
    return undefined;
  } finally {
    for (const side of sides) await side.close();
  }
}

interface Run {
  readonly holds: boolean;
  readonly end: number;
}

// One side's extents, read in order as far as asked.
class Cursor {
  private current: Run = { holds: false, end: 0 };

  constructor(
    private readonly extents: AsyncGenerator<Extent>,
    private readonly test: (flags: number) => boolean,
  ) {}

  // The run holding byte `offset` (offsets never go back; walkExtents covers every byte to the end).
  async at(offset: number): Promise<Run> {
    while (this.current.end <= offset) {
      const next = await this.extents.next();
      if (next.done) return { holds: false, end: Number.MAX_SAFE_INTEGER };
      this.current = { holds: this.test(next.value.flags), end: next.value.offset + next.value.length };
    }
    return this.current;
  }

  async close(): Promise<void> {
    await this.extents.return(undefined);
  }
}
