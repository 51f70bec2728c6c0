// How random the changed data is (docs/anomaly.md#what-is-measured): of the 64 KiB blocks a copy
// reads, one in SAMPLE_EVERY chosen by a hash of its guest offset (not every 32nd: a filesystem's
// layout repeats, and a fixed stride would see the same spot of each file), more often when the
// copy is small (about SAMPLE_LEAST blocks of what it has to do, every block below that); the same
// changes give the same sample wherever they are read. A sampled block counts as incompressible when its bytes' order-0
// entropy is at least INCOMPRESSIBLE_BITS per byte: a byte histogram costs a small fraction of
// what a compressor does.

export const SAMPLE_BLOCK = 64 * 1024;
export const SAMPLE_EVERY = 32;
export const SAMPLE_LEAST = 16;
/**
 * Bits per byte at or above which a block does not compress (random data reads 7.997; a block of
 * encrypted file with a 4 KiB of something else in it, 7.8; programs and text, below 6.5).
 */
export const INCOMPRESSIBLE_BITS = 7.5;

/** One disk's sample: blocks looked at, and how many of them do not compress. */
export interface ChangeSample {
  readonly sampledBlocks: number;
  readonly incompressibleBlocks: number;
}

// n·log2(n) for every count a block's histogram can hold, computed once.
const N_LOG_N = (() => {
  const table = new Float64Array(SAMPLE_BLOCK + 1);
  for (let n = 2; n <= SAMPLE_BLOCK; n++) table[n] = n * Math.log2(n);
  return table;
})();

/** Order-0 (byte histogram) entropy of data, in bits per byte. */
export function bitsPerByte(data: Uint8Array): number {
  if (data.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (let index = 0; index < data.length; index++) counts[data[index]!]!++;
  let sum = 0;
  for (let value = 0; value < 256; value++) {
    const count = counts[value]!;
    sum += count <= SAMPLE_BLOCK ? N_LOG_N[count]! : count * Math.log2(count);
  }
  return Math.log2(data.length) - sum / data.length;
}

export class ChangeSampler {
  private sampled = 0;
  private incompressible = 0;
  private readonly every: number;

  /** bytesToDo: what the copy will read at most (its sampling rate follows). */
  constructor(bytesToDo: number) {
    const blocks = Math.floor(bytesToDo / SAMPLE_BLOCK);
    this.every = Math.max(1, Math.min(SAMPLE_EVERY, Math.floor(blocks / SAMPLE_LEAST)));
  }

  /** Data the copy read at guest offset `offset` (not zeroes: those are no change of content). */
  add(offset: number, data: Uint8Array): void {
    const first = Math.ceil(offset / SAMPLE_BLOCK);
    for (let block = first; (block + 1) * SAMPLE_BLOCK <= offset + data.length; block++) {
      if (this.every > 1 && (Math.imul(block, 0x9e3779b1) >>> 0) % this.every !== 0) continue;
      const start = block * SAMPLE_BLOCK - offset;
      this.sampled++;
      if (bitsPerByte(data.subarray(start, start + SAMPLE_BLOCK)) >= INCOMPRESSIBLE_BITS) this.incompressible++;
    }
  }

  figures(): ChangeSample {
    return { sampledBlocks: this.sampled, incompressibleBlocks: this.incompressible };
  }
}
