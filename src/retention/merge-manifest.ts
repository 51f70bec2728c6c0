// The manifest of a child after its parent is merged into its file: the child's own ranges as
// they were, and the parent's ranges the child does not cover (a range cut by the child gets the
// digest of what is left of it, hashed from the parent's bytes once they matched its digest).
// The merged manifest uses the child's algorithm: a parent recorded with another one (sha256
// or xxh128 manifests from earlier versions) has its surviving ranges read, checked against their own digest
// and hashed again, so a chain spanning the change keeps every digest.

import { SendenseError } from '../errors.js';
import { rangeDigest } from '../repository/range-digest.js';
import { normalizeDigests, type DiskManifest, type ManifestDigests } from '../repository/manifest.js';
import { subtractSorted as subtract, type Interval } from '../repository/intervals.js';

export type { Interval } from '../repository/intervals.js';

export async function mergedManifest(
  parent: DiskManifest,
  child: DiskManifest,
  childExtents: readonly Interval[],
  readParent: (offset: number, length: number) => Promise<Buffer>,
): Promise<DiskManifest> {
  return {
    ...child,
    type: parent.type,
    parentId: parent.parentId,
    parentFile: parent.parentFile,
    bytes: parent.bytes + child.bytes,
    // The merged file is the parent's, renamed over the child's (merge-files.ts): its LUKS header.
    identity: parent.identity,
    digests: await mergedDigests(parent, child, childExtents, readParent),
  };
}

async function mergedDigests(
  parent: DiskManifest,
  child: DiskManifest,
  childExtents: readonly Interval[],
  readParent: (offset: number, length: number) => Promise<Buffer>,
): Promise<ManifestDigests | null> {
  if (parent.digests === null || child.digests === null) return null;
  const { algorithm } = child.digests;
  const sameAlgorithm = parent.digests.algorithm === algorithm;
  const data: [number, number, string][] = child.digests.data.map(([offset, length, digest]) => [
    offset,
    length,
    digest,
  ]);
  for (const [offset, length, digest] of parent.digests.data) {
    const pieces = subtract([offset, length], childExtents);
    if (!mustRead(pieces, [offset, length], sameAlgorithm)) {
      if (pieces.length > 0) data.push([offset, length, digest]);
      continue;
    }
    const bytes = await readParent(offset, length);
    if ((await rangeDigest(parent.digests.algorithm, bytes)) !== digest) {
      throw new SendenseError(
        `backup ${parent.backupId} disk ${parent.diskKey}: the data at guest offset ${offset} differs from its manifest; not merged (run sendense-run verify)`,
      );
    }
    for (const [at, size] of pieces)
      data.push([at, size, await rangeDigest(algorithm, bytes.subarray(at - offset, at - offset + size))]);
  }
  const zero = [...child.digests.zero, ...parent.digests.zero.flatMap((range) => subtract(range, childExtents))];
  return normalizeDigests({ algorithm, data, zero });
}

// A parent range is read when the child cuts it (what is left is hashed anew), or when the child's
// algorithm is another; one the child covers whole is dropped unread.
function mustRead(pieces: readonly Interval[], range: Interval, sameAlgorithm: boolean): boolean {
  if (pieces.length === 0) return false;
  const whole = pieces.length === 1 && pieces[0]![0] === range[0] && pieces[0]![1] === range[1];
  return !(whole && sameAlgorithm);
}

/** The parent's ranges mergedManifest will ask `readParent` for, in the order it asks. */
export function parentRangesToRead(
  parent: DiskManifest,
  child: DiskManifest,
  childExtents: readonly Interval[],
): Interval[] {
  if (parent.digests === null || child.digests === null) return [];
  const sameAlgorithm = parent.digests.algorithm === child.digests.algorithm;
  return parent.digests.data
    .filter(([offset, length]) => mustRead(subtract([offset, length], childExtents), [offset, length], sameAlgorithm))
    .map(([offset, length]) => [offset, length] as const);
}
