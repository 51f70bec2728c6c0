// A copy in a bucket of an S3 object store (docs/copies.md#copies-on-object-storage): the copy's
// files are objects under the plan's prefix, with the layout a repository has on disk, so they can
// be fetched back into one. Each file is a new object, put whole by s3-upload.ts; with objectLock it
// is locked as it is written. A "partial file" here is a multipart upload not yet complete:
// removing it aborts the upload.

import { stat } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { SendenseError } from '../../errors.js';
import { formatBytes } from '../../format/bytes.js';
import type { S3CopyTo } from '../../plan/types.js';
import { capabilities, type CopyTarget } from '../copy-target.js';
import { copyObjects, isMissing, PARTIAL, type CopyObjects } from './copy-objects.js';
import { inspectCopy, listFiles } from './copy-listing.js';
import { objectLocks } from './object-locks.js';
import { reclaimVersions } from './reclaim-versions.js';
import { s3Problem } from './s3-client.js';
import { s3TargetId } from './s3-description.js';
import { downloadObject } from './s3-download.js';
import { expectedEtag, lockVersion, unquote, uploadObject } from './s3-upload.js';

// `say`: hears what a run should tell (an upload resumed). Capabilities: `download` (the copy's
// merges are worked out on the hub), `reclaim` (the versions under a VM's folder that nothing reads
// any more and no lock holds are deleted), `locks` with objectLock.
export function s3CopyTarget(client: S3Client, to: S3CopyTo, say: (message: string) => void = () => {}): CopyTarget {
  const objects = copyObjects(client, to);
  const { bucket, description, key, fail } = objects;
  const target: CopyTarget = {
    description,
    node: s3TargetId(to),
    facts: { target: 's3', s3: to },
    absolute: (relative) => `s3://${bucket}/${key(relative)}`,
    inspect: () => inspectCopy(objects, (relative) => target.read(relative)),
    list: (dir) => listFiles(objects, dir),
    async read(relative) {
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key(relative) }));
        return await answer.Body!.transformToString('utf8');
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw s3Problem(description, `cannot read ${relative}`, error);
      }
    },
    async put(relative, bytes, signal) {
      const { resumedBytes } = await uploadObject(
        { client, bucket, key: key(relative), lock: to.objectLock, signal },
        bytes,
      ).catch(fail(`cannot write ${relative}`));
      if (resumedBytes > 0)
        say(
          `${relative}: resumed the upload a killed run left (${formatBytes(resumedBytes)} of its parts were in the store already)`,
        );
    },
    sameAs: (relative, file) => sameAs(objects, relative, file),
    remove: (relatives) => removeFiles(objects, relatives),
    async removeLeft(recorded) {
      const objectKey = s3KeyOf(to, recorded);
      await abortUploads(client, bucket, objectKey).catch(fail(`cannot abort the upload of ${objectKey}`));
    },
    capability: capabilities({
      download: (relative, file, signal) => download(objects, relative, file, signal),
      reclaim: (dir) =>
        reclaimVersions(client, bucket, `${key(dir)}/`).catch(fail(`cannot give back the space of ${dir}`)),
      ...(to.objectLock !== undefined && { locks: objectLocks(objects, to.objectLock) }),
    }),
  };
  return Object.freeze(target);
}

// The object into a file on the hub, checked against its ETag.
async function download(objects: CopyObjects, relative: string, file: string, signal?: AbortSignal): Promise<void> {
  const { client, bucket, description, key, fail, head } = objects;
  const there = await head(relative);
  if (there === undefined) throw new SendenseError(`${description}: ${relative} is not there`);
  // Pinned to the version looked at: the bytes checked are the ETag's.
  await downloadObject(
    client,
    bucket,
    { key: key(relative), size: there.ContentLength ?? 0, etag: unquote(there.ETag), versionId: there.VersionId },
    file,
    signal,
  ).catch(fail(`cannot read ${relative}`));
}

// The object holds the file's bytes (size and ETag); then it is locked if it was not yet.
async function sameAs(objects: CopyObjects, relative: string, file: string): Promise<boolean> {
  const { client, to, bucket, key, fail, head } = objects;
  const there = await head(relative);
  const size = (await stat(file)).size;
  if (there === undefined || there.ContentLength !== size || unquote(there.ETag) !== (await expectedEtag(file, size)))
    return false;
  // Kept: a run killed between its upload and its lock left it unlocked.
  await lockVersion({ client, bucket, key: key(relative), lock: to.objectLock }, there.VersionId).catch(
    fail(`cannot lock ${relative}`),
  );
  return true;
}

async function removeFiles(objects: CopyObjects, relatives: readonly string[]): Promise<void> {
  const { client, bucket, key, fail, head } = objects;
  for (const relative of relatives) {
    if (relative.endsWith(PARTIAL))
      await abortUploads(client, bucket, key(relative.slice(0, -PARTIAL.length))).catch(
        fail(`cannot abort the upload of ${relative}`),
      );
    // In a versioned bucket a delete hides the object behind a delete marker (its versions stay
    // until reclaim deletes them); one of a key that is not there would only add a marker.
    else if ((await head(relative)) !== undefined)
      await client
        .send(new DeleteObjectCommand({ Bucket: bucket, Key: key(relative) }))
        .catch(fail(`cannot remove ${relative}`));
  }
}

/** The object key of a partial file's record (`s3://bucket/<key>.partial`), as absolute() wrote it. */
export function s3KeyOf(to: S3CopyTo, recorded: string): string {
  return recorded.slice(`s3://${to.bucket}/`.length).replace(/\.partial$/, '');
}

/** Aborts every multipart upload of exactly this key (what a killed run left). */
export async function abortUploads(client: S3Client, bucket: string, objectKey: string): Promise<number> {
  const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: objectKey }));
  const uploads = (listed.Uploads ?? []).filter((upload) => upload.Key === objectKey);
  for (const upload of uploads)
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: objectKey, UploadId: upload.UploadId }));
  return uploads.length;
}
