// The digests of a folded layer (docs/replication.md#digests): before a fold writes the next point's
// clusters into the oldest point's file, the manifest of the result is written beside the next
// point's layer as `<manifest>.folded`; the fold renames it over the next point's manifest once its
// own rename is done, so doctor or the next sync finishes an interrupted fold's manifest with it.
// The next point's ranges as they were, and the oldest's it does not cover; a range the next point
// cuts is read from the oldest layer on the replica node and what is left of it hashed anew.

import { SendenseError } from '../errors.js';
import type { NodeHost } from '../node/node.js';
import { subtractSorted, unionSorted, type Interval } from '../repository/intervals.js';
import { normalizeDigests, type ManifestDigests } from '../repository/manifest.js';
import { rangeDigest } from '../repository/range-digest.js';
import { openReplicaLayer, type OpenReplicaLayer } from './replica-layer.js';
import {
  foldedManifestPath,
  readReplicaManifest,
  replicaManifestPath,
  writeReplicaManifest,
} from './replica-manifest.js';
import { execOn } from './replica-node.js';
import { existingFiles } from './replica-files.js';

// Once per fold of `older` into `next`, before its commit; nothing when the commit is done already.
export async function prepareFoldedManifest(node: NodeHost, older: string, next: string): Promise<void> {
  const exec = execOn(node);
  const folded = foldedManifestPath(next);
  const present = await existingFiles(exec, [older, folded]);
  if (!present.has(older) || present.has(folded)) return;
  const [parent, child] = await Promise.all([
    readReplicaManifest(exec, replicaManifestPath(older)),
    readReplicaManifest(exec, replicaManifestPath(next)),
  ]);
  if (!('manifest' in parent) || !('manifest' in child)) {
    // A layer made before replicas had digests: the folded one has none either (never stale ones).
    const removed = await exec(['rm', '-f', '--', replicaManifestPath(next)]);
    if (removed.exitCode !== 0)
      throw new SendenseError(
        `cannot remove ${replicaManifestPath(next)} on ${node.description}: ${removed.stderr.trim()}`,
      );
    return;
  }
  let layer: OpenReplicaLayer | undefined;
  try {
    const digests = await foldedDigests(parent.manifest.digests, child.manifest.digests, async (offset, length) => {
      layer ??= await openReplicaLayer(node, older);
      return layer.image.read(offset, length, Buffer.alloc(length));
    });
    const manifest = {
      ...child.manifest,
      folded: [...parent.manifest.folded, parent.manifest.pointId, ...child.manifest.folded],
      digests,
    };
    await writeReplicaManifest(exec, folded, manifest);
  } finally {
    await (layer as OpenReplicaLayer | undefined)?.close();
  }
}

// A range of the older layer that no longer matches its digest keeps that digest as it was: verify
// goes on reporting it there, instead of a digest of damaged bytes that would make it look sound.
export async function foldedDigests(
  parent: ManifestDigests,
  child: ManifestDigests,
  readParent: (offset: number, length: number) => Promise<Uint8Array>,
): Promise<ManifestDigests> {
  const { algorithm } = child;
  const childExtents = unionSorted(
    child.data.map(([offset, length]): Interval => [offset, length]),
    child.zero.map(([offset, length]): Interval => [offset, length]),
  );
  const data: [number, number, string][] = child.data.map(([offset, length, digest]) => [offset, length, digest]);
  for (const [offset, length, digest] of parent.data) {
    const pieces = subtractSorted([offset, length], childExtents);
    if (pieces.length === 0) continue;
    const whole = pieces.length === 1 && pieces[0]![0] === offset && pieces[0]![1] === length;
    if (whole && parent.algorithm === algorithm) {
      data.push([offset, length, digest]);
      continue;
    }
    const bytes = await readParent(offset, length);
    if ((await rangeDigest(parent.algorithm, bytes)) !== digest) {
      data.push([offset, length, digest]);
      continue;
    }
    for (const [at, size] of pieces)
      data.push([at, size, await rangeDigest(algorithm, bytes.subarray(at - offset, at - offset + size))]);
  }
  const zero = [...child.zero, ...parent.zero.flatMap((range) => subtractSorted(range, childExtents))];
  return normalizeDigests({ algorithm, data, zero });
}
