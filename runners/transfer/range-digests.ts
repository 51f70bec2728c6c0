// The digests of what one disk's transfer wrote (docs/how-it-works.md#what-is-recorded-and-where):
// the digest of the exact bytes sent per write request (requests are cut at aligned multiples of
// the request size, so each names a guest offset), and the ranges sent as zeroes. Streamed in
// batches so memory stays flat.

import { RANGE_DIGEST_ALGORITHM } from '../../src/repository/range-digest.js';
import type { DataRange, ZeroRange } from '../../src/wire/index.js';
import type { Digester } from './digest-thread.js';

export const DIGEST_ALGORITHM = RANGE_DIGEST_ALGORITHM;

const BATCH = 2048;

export class RangeDigests {
  private data: DataRange[] = [];
  private zero: ZeroRange[] = [];

  constructor(
    private readonly digester: Digester,
    private readonly flush: (data: readonly DataRange[], zero: readonly ZeroRange[]) => void,
  ) {}

  // Called with the bytes as they are handed to the target, before the buffer is reused (the
  // caller awaits it before its next request).
  async addData(offset: number, bytes: Uint8Array): Promise<void> {
    const length = bytes.length;
    const digest = await this.digester.digest(DIGEST_ALGORITHM, bytes);
    this.data.push([offset, length, digest]);
    if (this.data.length >= BATCH) this.emit();
  }

  addZero(offset: number, length: number): void {
    this.zero.push([offset, length]);
    if (this.zero.length >= BATCH) this.emit();
  }

  // Always one line at least: a disk with nothing to write still says its digests were taken.
  end(): void {
    this.emit();
  }

  private emit(): void {
    this.flush(this.data, this.zero);
    this.data = [];
    this.zero = [];
  }
}
