// Gives back the space of a copy's objects in a versioned bucket: the versions no reader sees.

import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Reclaimed } from '../copy-target.js';

// Every version under the prefix that no reader sees any more: the earlier versions of a key written
// again, and every version of a key removed (behind its delete marker). Each is deleted by its
// version id once no lock holds it (never with a bypass); a delete marker goes once no version is
// left behind it. In a bucket without versioning there is nothing of the kind.
export async function reclaimVersions(client: S3Client, bucket: string, prefix: string): Promise<Reclaimed> {
  interface Entry {
    readonly key: string;
    readonly versionId: string;
    readonly latest: boolean;
    readonly marker: boolean;
    readonly size: number;
  }
  const entries: Entry[] = [];
  let [keyMarker, versionMarker]: (string | undefined)[] = [undefined, undefined];
  do {
    const page: ListObjectVersionsCommandOutput = await client.send(
      new ListObjectVersionsCommand({
        Bucket: bucket,
        Prefix: prefix,
        KeyMarker: keyMarker,
        VersionIdMarker: versionMarker,
      }),
    );
    for (const v of page.Versions ?? [])
      entries.push({
        key: v.Key!,
        versionId: v.VersionId!,
        latest: v.IsLatest === true,
        marker: false,
        size: v.Size ?? 0,
      });
    for (const m of page.DeleteMarkers ?? [])
      entries.push({ key: m.Key!, versionId: m.VersionId!, latest: m.IsLatest === true, marker: true, size: 0 });
    [keyMarker, versionMarker] =
      page.IsTruncated === true ? [page.NextKeyMarker, page.NextVersionIdMarker] : [undefined, undefined];
  } while (keyMarker !== undefined);
  const result = { deleted: 0, deletedBytes: 0, held: 0, heldBytes: 0, heldUntil: undefined as Date | undefined };
  const remove = (entry: Entry) =>
    client.send(new DeleteObjectCommand({ Bucket: bucket, Key: entry.key, VersionId: entry.versionId }));
  const byKey = new Map<string, Entry[]>();
  for (const entry of entries) byKey.set(entry.key, [...(byKey.get(entry.key) ?? []), entry]);
  for (const versions of byKey.values()) {
    const removed = versions.some((entry) => entry.latest && entry.marker);
    let left = 0;
    for (const version of versions.filter(
      (entry) => !entry.marker && (removed || !entry.latest) && entry.versionId !== 'null',
    )) {
      const there = await client.send(
        new HeadObjectCommand({ Bucket: bucket, Key: version.key, VersionId: version.versionId }),
      );
      const until = there.ObjectLockRetainUntilDate;
      if (until !== undefined && until.getTime() > Date.now()) {
        left++;
        result.held++;
        result.heldBytes += version.size;
        if (result.heldUntil === undefined || until < result.heldUntil) result.heldUntil = until;
        continue;
      }
      await remove(version);
      result.deleted++;
      result.deletedBytes += version.size;
    }
    const dataLeft = left + versions.filter((entry) => !entry.marker && entry.latest).length;
    // A marker in front of nothing is dropped; one still hiding a version stays.
    for (const marker of versions.filter((entry) => entry.marker && (dataLeft === 0 || !entry.latest)))
      await remove(marker);
  }
  return result;
}
