// "Did you mean …": the known name closest to a mistyped one (edit distance), if close enough.

import { editDistance } from '../format/edit-distance.js';

export function nearestName(typed: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const distance = editDistance(typed.toLowerCase(), name.toLowerCase());
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  // A third of the name may be wrong (two letters swapped in "histroy" is 2 edits of 7).
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

// " (did you mean 'history'?)" or ''.
export function didYouMean(typed: string, known: readonly string[]): string {
  const near = nearestName(typed, known);
  return near === undefined ? '' : ` (did you mean '${near}'?)`;
}
