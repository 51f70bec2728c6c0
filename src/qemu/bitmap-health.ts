// Whether a persistent dirty bitmap can say what changed since it was added (docs/how-it-works.md#change-tracking-by-source): the
// one rule the hub (deciding an incremental) and the node transfer (before reading) both apply.

export interface BitmapState {
  readonly name: string;
  /** Stored "in-use" on an image nobody has open: not saved cleanly, inconsistent. */
  readonly inUse: boolean;
  /** Recording writes ("auto" flag). */
  readonly enabled: boolean;
}

export type BitmapProblem = 'missing' | 'inconsistent' | 'disabled';

export function bitmapProblem(bitmaps: readonly BitmapState[], name: string): BitmapProblem | undefined {
  const bitmap = bitmaps.find((candidate) => candidate.name === name);
  if (bitmap === undefined) return 'missing';
  if (bitmap.inUse) return 'inconsistent';
  // A disabled bitmap stopped recording writes: what it marks dirty is not all that changed.
  if (!bitmap.enabled) return 'disabled';
  return undefined;
}
