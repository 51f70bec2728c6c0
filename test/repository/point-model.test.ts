// What a point holds, from its chain's manifests alone: the newest file that wrote an offset
// decides (data with its digest, or zeroes), a range a newer file covers in part is named with
// what still shows, one it covers whole is not named at all, and nothing written reads as zeroes.

import { describe, expect, it } from 'vitest';
import type { DiskManifest } from '../../src/repository/manifest.js';
import { pointModel } from '../../src/repository/point-model.js';

function layer(data: [number, number, string][], zero: [number, number][] = []): DiskManifest {
  return { digests: { algorithm: 'xxh64', data, zero } } as unknown as DiskManifest;
}

describe('point model', () => {
  it('gives each offset to the newest file that wrote it', () => {
    const full = layer([
      [0, 100, 'a'],
      [100, 100, 'b'],
      [300, 100, 'c'],
    ]);
    // Covers b whole (zeroes written over it), and the start of c.
    const middle = layer([[300, 20, 'd']], [[100, 100]]);
    // Covers the end of a, and writes into a hole.
    const newest = layer([
      [90, 10, 'e'],
      [500, 50, 'f'],
    ]);
    const model = pointModel([full, middle, newest], 1000);
    expect(model.checks).toEqual([
      { offset: 90, length: 10, algorithm: 'xxh64', digest: 'e' },
      { offset: 500, length: 50, algorithm: 'xxh64', digest: 'f' },
      { offset: 300, length: 20, algorithm: 'xxh64', digest: 'd' },
    ]);
    expect(model.partlyCovered).toEqual([
      { layer: 0, range: [0, 100, 'a'], algorithm: 'xxh64', visible: [[0, 90]] },
      { layer: 0, range: [300, 100, 'c'], algorithm: 'xxh64', visible: [[320, 80]] },
    ]);
    // Zeroes written (100-200), and what no file wrote: 200-300, 400-500, 550-1000.
    expect(model.zeroes).toEqual([
      [100, 200],
      [400, 100],
      [550, 450],
    ]);
  });

  it('a full alone: every range whole, the rest zeroes', () => {
    const model = pointModel([layer([[0, 64, 'x']], [[64, 64]])], 256);
    expect(model.checks).toEqual([{ offset: 0, length: 64, algorithm: 'xxh64', digest: 'x' }]);
    expect(model.partlyCovered).toEqual([]);
    expect(model.zeroes).toEqual([[64, 192]]);
  });
});
