// One run of blocks with the same block status flags, as a BLOCK_STATUS reply describes it.

export interface Extent {
  readonly offset: number;
  readonly length: number;
  /** Context-specific flags: base:allocation HOLE=1 ZERO=2; qemu:dirty-bitmap DIRTY=1. */
  readonly flags: number;
}
