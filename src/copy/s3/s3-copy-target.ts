// A copy in a bucket of an S3 object store (docs/copies.md#copies-on-object-storage): the copy's
// files are objects under the plan's prefix, with the layout a repository has on disk, so they can
// be fetched back into one. Each file is a new object, put whole by s3-upload.ts; with objectLock it
// is locked as it is written. A "partial file" here is a multipart upload not yet complete:
// removing it aborts the upload.

import path from 'node:path';
import { stat } from 'node:fs/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  ListObjectsV2Command,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { SendenseError } from '../../errors.js';
import { formatBytes } from '../../format/bytes.js';
import type { S3CopyTo } from '../../plan/types.js';
import { REPOSITORY_MARKER } from '../../repository/marker.js';
import { capabilities, type CopyTarget, type ObjectLocks, type Reclaimed, type TargetRoot } from '../copy-target.js';
import { s3Problem } from './s3-client.js';
import { s3Description, s3TargetId } from './s3-description.js';
import { downloadObject } from './s3-download.js';
import { expectedEtag, lockVersion, unquote, uploadObject } from './s3-upload.js';

const PARTIAL = '.partial';

// `say`: hears what a run should tell (an upload resumed). Capabilities: `download` (the copy's
// merges are worked out on the hub), `reclaim` (the versions under a VM's folder that nothing reads
// any more and no lock holds are deleted), `locks` with objectLock.
export function s3CopyTarget(client: S3Client, to: S3CopyTo, say: (message: string) => void = () => {}): CopyTarget {
  const description = s3Description(to);
  const { bucket } = to;
  const key = (relative: string): string => (to.prefix === '' ? relative : path.posix.join(to.prefix, relative));
  const fail = (what: string) => (error: unknown) => {
    throw s3Problem(description, what, error);
  };
  const missing = (error: unknown) => {
    const name = (error as { name?: string }).name;
    return name === 'NoSuchKey' || name === 'NotFound';
  };

  const head = (relative: string) =>
    client
      .send(new HeadObjectCommand({ Bucket: bucket, Key: key(relative) }))
      .catch((error: unknown) => (missing(error) ? undefined : fail(`cannot read ${relative}`)(error)));

  // The object into a file on the hub, checked against its ETag.
  const download = async (relative: string, file: string, signal?: AbortSignal) => {
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
  };
  const locks = (lock: NonNullable<S3CopyTo['objectLock']>): ObjectLocks => ({
    lock,
    async extendLock(relative, mode, until, slackMs) {
      const there = await head(relative);
      if (there === undefined) return false;
      const now = there.ObjectLockRetainUntilDate;
      if (now !== undefined && now.getTime() >= until.getTime() - slackMs) return false;
      const Retention = {
        Mode: mode === 'governance' ? ('GOVERNANCE' as const) : ('COMPLIANCE' as const),
        RetainUntilDate: until,
      };
      await client
        .send(
          new PutObjectRetentionCommand({ Bucket: bucket, Key: key(relative), VersionId: there.VersionId, Retention }),
        )
        .catch(fail(`cannot lock ${relative} longer`));
      return true;
    },
  });

  const target: CopyTarget = {
    description,
    node: s3TargetId(to),
    facts: { target: 's3', s3: to },
    absolute: (relative) => `s3://${bucket}/${key(relative)}`,
    async inspect(): Promise<TargetRoot> {
      // A request with an answer's body (not HEAD): the store says what is wrong by its code.
      await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 })).catch(fail('cannot open the bucket'));
      if (to.objectLock !== undefined) await requireObjectLock(client, bucket, description);
      const inside = await markerAbove(client, to);
      const entries = await listNames(client, bucket, to.prefix === '' ? '' : `${to.prefix}/`).catch(
        fail('cannot list it'),
      );
      if (entries.length === 0) return { state: 'missing', inside };
      const marker = await target.read(REPOSITORY_MARKER);
      return { state: 'directory', entries, inside, ...(marker !== undefined && { marker }) };
    },
    async list(dir) {
      const base = `${key(dir)}/`;
      const files = new Map<string, number>();
      let token: string | undefined;
      do {
        const page = await client
          .send(new ListObjectsV2Command({ Bucket: bucket, Prefix: base, ContinuationToken: token }))
          .catch(fail(`cannot list ${dir}`));
        for (const object of page.Contents ?? []) {
          const relative = object.Key!.slice(base.length);
          if (relative.split('/').length <= 2) files.set(relative, object.Size ?? 0);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return files;
    },
    async read(relative) {
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key(relative) }));
        return await answer.Body!.transformToString('utf8');
      } catch (error) {
        if (missing(error)) return undefined;
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
    async sameAs(relative, file) {
      const there = await head(relative);
      const size = (await stat(file)).size;
      if (
        there === undefined ||
        there.ContentLength !== size ||
        unquote(there.ETag) !== (await expectedEtag(file, size))
      )
        return false;
      // Kept: a run killed between its upload and its lock left it unlocked.
      await lockVersion({ client, bucket, key: key(relative), lock: to.objectLock }, there.VersionId).catch(
        fail(`cannot lock ${relative}`),
      );
      return true;
    },
    async remove(relatives) {
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
    },
    async removeLeft(recorded) {
      const objectKey = s3KeyOf(to, recorded);
      await abortUploads(client, bucket, objectKey).catch(fail(`cannot abort the upload of ${objectKey}`));
    },
    capability: capabilities({
      download,
      reclaim: (dir) =>
        reclaimVersions(client, bucket, `${key(dir)}/`).catch(fail(`cannot give back the space of ${dir}`)),
      ...(to.objectLock !== undefined && { locks: locks(to.objectLock) }),
    }),
  };
  return Object.freeze(target);
}

// Every version under the prefix that no reader sees any more: the earlier versions of a key written
// again, and every version of a key removed (behind its delete marker). Each is deleted by its
// version id once no lock holds it (never with a bypass); a delete marker goes once no version is
// left behind it. In a bucket without versioning there is nothing of the kind.
async function reclaimVersions(client: S3Client, bucket: string, prefix: string): Promise<Reclaimed> {
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

// The names right under a prefix: objects and "folders".
async function listNames(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const page = await client.send(
    new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', MaxKeys: 100 }),
  );
  const names = [
    ...(page.CommonPrefixes ?? []).map((common) => common.Prefix!.slice(prefix.length, -1)),
    ...(page.Contents ?? []).map((object) => object.Key!.slice(prefix.length)),
  ];
  const uploads = await client.send(
    new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, MaxUploads: 10 }),
  );
  return [...names, ...(uploads.Uploads ?? []).map((upload) => `${upload.Key!.slice(prefix.length)}${PARTIAL}`)].filter(
    (name) => name !== '',
  );
}

// A repository marker under a prefix above this one: the copy would be taken for a VM's folder of it.
async function markerAbove(client: S3Client, to: S3CopyTo): Promise<string | undefined> {
  const parts = to.prefix === '' ? [] : to.prefix.split('/');
  for (let depth = parts.length - 1; depth >= 0; depth--) {
    const above = parts.slice(0, depth).join('/');
    const markerKey = above === '' ? REPOSITORY_MARKER : `${above}/${REPOSITORY_MARKER}`;
    const found = await client.send(new HeadObjectCommand({ Bucket: to.bucket, Key: markerKey })).then(
      () => true,
      () => false,
    );
    if (found) return `s3://${to.bucket}/${above}`;
  }
  return undefined;
}

// objectLock needs a bucket made with object lock enabled: S3 cannot turn it on later for a plain bucket here.
async function requireObjectLock(client: S3Client, bucket: string, description: string): Promise<void> {
  const config = await client.send(new GetObjectLockConfigurationCommand({ Bucket: bucket })).catch(() => undefined);
  if (config?.ObjectLockConfiguration?.ObjectLockEnabled !== 'Enabled') {
    throw new SendenseError(
      `${description}: copy.to.objectLock is set, but the bucket ${bucket} has no object lock: make the bucket with object lock enabled, or leave objectLock out`,
    );
  }
}
