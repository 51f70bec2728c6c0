// What a point holds at every offset, from the manifests of its chain (docs/how-it-works.md#a-verified-restore):
// the newest file that wrote there decides, a data range with its digest or zeroes; where no file
// wrote, zeroes. A data range a newer file covers in part is named with what still shows of it.

import type { DiskManifest } from './manifest.js';
import { subtractSorted, unionSorted, type Interval } from './intervals.js';

/** A range of the restored disk and the digest it must have. */
export interface RangeCheck {
  readonly offset: number;
  readonly length: number;
  readonly algorithm: string;
  readonly digest: string;
}

/** A data range of a chain file that a newer file covers in part: read whole to hash what is left. */
export interface PartlyCovered {
  /** Index into the chain (0 = the full). */
  readonly layer: number;
  readonly range: readonly [number, number, string];
  readonly algorithm: string;
  readonly visible: readonly Interval[];
}

export interface PointModel {
  readonly checks: readonly RangeCheck[];
  readonly partlyCovered: readonly PartlyCovered[];
  /** Where the point reads as zeroes (sorted, not overlapping). */
  readonly zeroes: readonly Interval[];
}

// What the point holds, from its chain's manifests (oldest first, each with digests): the newest
// file's range wins wherever several wrote.
export function pointModel(chain: readonly DiskManifest[], size: number): PointModel {
  const checks: RangeCheck[] = [];
  const partlyCovered: PartlyCovered[] = [];
  const zeroes: Interval[] = [];
  let covered: Interval[] = [];
  for (let layer = chain.length - 1; layer >= 0; layer--) {
    const { algorithm, data, zero } = chain[layer]!.digests!;
    for (const range of data) {
      const [offset, length, digest] = range;
      const visible = subtractSorted([offset, length], covered);
      if (visible.length === 0) continue;
      if (visible.length === 1 && visible[0]![0] === offset && visible[0]![1] === length)
        checks.push({ offset, length, algorithm, digest });
      else partlyCovered.push({ layer, range, algorithm, visible });
    }
    for (const range of zero) zeroes.push(...subtractSorted(range, covered));
    covered = unionSorted(
      covered,
      unionSorted(
        data.map(([offset, length]) => [offset, length] as const),
        zero,
      ),
    );
  }
  zeroes.push(...subtractSorted([0, size], covered));
  return {
    checks,
    partlyCovered,
    zeroes: unionSorted(
      [],
      zeroes.sort((a, b) => a[0] - b[0]),
    ),
  };
}
