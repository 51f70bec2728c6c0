// A run's reader of a source made from the facets its type implements (./backup-source.ts): a
// source without change tracking backs up full every time, one without a snapshot is read as it
// lies; steps still ask every question and never which source they read.

import type { BackupSource, SourceChangeTracking, SourceFacets, SourceSnapshot } from './backup-source.js';

// No change tracking: nothing to continue a chain from, nothing added or superseded.
const untracked: SourceChangeTracking = {
  whyNotIncremental: (fact) => `disk ${fact.key}: the source tracks no changes, so only full backups are possible`,
  newChangeId: () => undefined,
  addedBitmap: () => undefined,
  supersededBitmaps: () => [],
  releaseSuperseded: async () => undefined,
};

// No snapshot: the disks are read as they lie (the source guarantees nothing writes them meanwhile).
const unsnapshotted: SourceSnapshot = {
  snapshotTitle: "take this backup's point in time on the source",
  whyNoSnapshot: () => 'the source takes no point in time: its disks are read as they are',
  describeSnapshot: () => 'nothing (the source takes no point in time)',
  snapshot: async () => ({ summary: 'nothing to take' }),
};

export function backupSourceOf(facets: SourceFacets): BackupSource {
  const { inspection, changeTracking = untracked, snapshot = unsnapshotted, reads } = facets;
  return {
    ...inspection,
    ...changeTracking,
    ...snapshot,
    ...reads,
    adoptResults: reads.adoptResults ?? (() => []),
  };
}

/** A source written as one object (every facet in it) offers each facet from that object. */
export function everyFacetOf(whole: BackupSource): SourceFacets {
  return { inspection: whole, changeTracking: whole, snapshot: whole, reads: whole };
}
