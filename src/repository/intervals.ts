// Guest byte ranges as [offset, length]: the parts of a range outside others, and unions, for
// manifests (docs/how-it-works.md#verification) and merges.

/** [guest offset, length]; lists are sorted and not overlapping. */
export type Interval = readonly [number, number];

// The parts of `range` outside every interval of `cut` (sorted, not overlapping). The first
// interval that can touch `range` is found by binary search, so a long `cut` costs little.
export function subtractSorted(range: Interval, cut: readonly Interval[]): Interval[] {
  const [start, length] = range;
  const end = start + length;
  let low = 0;
  let high = cut.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (cut[middle]![0] + cut[middle]![1] <= start) low = middle + 1;
    else high = middle;
  }
  const left: Interval[] = [];
  let at = start;
  for (let i = low; i < cut.length && at < end; i++) {
    const [cutStart, cutLength] = cut[i]!;
    if (cutStart >= end) break;
    if (cutStart > at) left.push([at, cutStart - at]);
    at = Math.max(at, cutStart + cutLength);
  }
  if (at < end) left.push([at, end - at]);
  return left;
}

// Both lists' bytes as one sorted list; intervals that overlap or touch become one.
export function unionSorted(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: [number, number][] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i]![0] <= b[j]![0]) ? a[i++]! : b[j++]!;
    const last = out[out.length - 1];
    if (last !== undefined && next[0] <= last[0] + last[1]) last[1] = Math.max(last[1], next[0] + next[1] - last[0]);
    else if (next[1] > 0) out.push([next[0], next[1]]);
  }
  return out;
}
