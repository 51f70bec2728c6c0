// Byte ranges: what is left of a range outside others (found by binary search in a long list),
// and unions that join touching ranges.

import { describe, expect, it } from 'vitest';
import { subtractSorted, unionSorted } from '../../src/repository/intervals.js';

describe('intervals', () => {
  it('subtracts a sorted list from a range: none, some, all', () => {
    expect(subtractSorted([10, 10], [])).toEqual([[10, 10]]);
    expect(
      subtractSorted(
        [10, 10],
        [
          [0, 5],
          [12, 2],
          [16, 2],
          [30, 5],
        ],
      ),
    ).toEqual([
      [10, 2],
      [14, 2],
      [18, 2],
    ]);
    expect(
      subtractSorted(
        [10, 10],
        [
          [0, 11],
          [19, 5],
        ],
      ),
    ).toEqual([[11, 8]]);
    expect(subtractSorted([10, 10], [[5, 20]])).toEqual([]);
    // A long list: the same answer as a walk from its start.
    const cut = Array.from({ length: 10_000 }, (_, index) => [index * 10, 5] as const);
    expect(subtractSorted([50_002, 20], cut)).toEqual([
      [50_005, 5],
      [50_015, 5],
    ]);
  });

  it('joins overlapping and touching ranges, and drops empty ones', () => {
    expect(
      unionSorted(
        [
          [0, 5],
          [10, 5],
        ],
        [
          [5, 2],
          [12, 10],
          [30, 0],
        ],
      ),
    ).toEqual([
      [0, 7],
      [10, 12],
    ]);
    expect(unionSorted([], [[3, 4]])).toEqual([[3, 4]]);
  });
});
