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
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { SendenseError } from '../../errors.js';
import { formatBytes } from '../../format/bytes.js';
import type { S3CopyTo } from '../../plan/types.js';
import { REPOSITORY_MARKER } from '../../repository/marker.js';
import type { CopyTarget, TargetRoot } from '../copy-target.js';
import { s3Problem } from './s3-client.js';
import { s3Description, s3TargetId } from './s3-description.js';
import { expectedEtag, lockVersion, unquote, uploadObject } from './s3-upload.js';

const PARTIAL = '.partial';

// `say`: hears what a run should tell (an upload resumed).
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

  const target: CopyTarget = {
    description,
    node: s3TargetId(to),
    absolute: (relative) => `s3://${bucket}/${key(relative)}`,
    async inspect(): Promise<TargetRoot> {
      // A request with an answer's body (not HEAD): the store says what is wrong by its code.
      await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 })).catch(fail('cannot open the bucket'));
      if (to.objectLock !== undefined) await requireObjectLock(client, bucket, description);
      const inside = await markerAbove(client, to);
      const entries = await listNames(client, bucket, to.prefix === '' ? '' : `${to.prefix}/`).catch(fail('cannot list it'));
      if (entries.length === 0) return { state: 'missing', inside };
      const marker = await target.read(REPOSITORY_MARKER);
      return { state: 'directory', entries, inside, ...(marker !== undefined && { marker }) };
    },
    async list(dir) {
      const base = `${key(dir)}/`;
      const files = new Map<string, number>();
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: base, ContinuationToken: token })).catch(fail(`cannot list ${dir}`));
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
      const { resumedBytes } = await uploadObject({ client, bucket, key: key(relative), lock: to.objectLock, signal }, bytes).catch(fail(`cannot write ${relative}`));
      if (resumedBytes > 0) say(`${relative}: resumed the upload a killed run left (${formatBytes(resumedBytes)} of its parts were in the store already)`);
    },
    async sameAs(relative, file) {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key(relative) })).catch((error: unknown) => (missing(error) ? undefined : fail(`cannot read ${relative}`)(error)));
      const size = (await stat(file)).size;
      if (head === undefined || head.ContentLength !== size || unquote(head.ETag) !== (await expectedEtag(file, size))) return false;
      // Kept: a run killed between its upload and its lock left it unlocked.
      await lockVersion({ client, bucket, key: key(relative), lock: to.objectLock }, head.VersionId).catch(fail(`cannot lock ${relative}`));
      return true;
    },
    async remove(relatives) {
      for (const relative of relatives) {
        if (relative.endsWith(PARTIAL)) await abortUploads(client, bucket, key(relative.slice(0, -PARTIAL.length))).catch(fail(`cannot abort the upload of ${relative}`));
        else await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key(relative) })).catch(fail(`cannot remove ${relative}`));
      }
    },
  };
  return Object.freeze(target);
}

/** The object key of a partial file's record (`s3://bucket/<key>.partial`), as absolute() wrote it. */
export function s3KeyOf(to: S3CopyTo, recorded: string): string {
  return recorded.slice(`s3://${to.bucket}/`.length).replace(/\.partial$/, '');
}

/** Aborts every multipart upload of exactly this key (what a killed run left). */
export async function abortUploads(client: S3Client, bucket: string, objectKey: string): Promise<number> {
  const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: objectKey }));
  const uploads = (listed.Uploads ?? []).filter((upload) => upload.Key === objectKey);
  for (const upload of uploads) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: objectKey, UploadId: upload.UploadId }));
  return uploads.length;
}

// The names right under a prefix: objects and "folders".
async function listNames(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', MaxKeys: 100 }));
  const names = [...(page.CommonPrefixes ?? []).map((common) => common.Prefix!.slice(prefix.length, -1)), ...(page.Contents ?? []).map((object) => object.Key!.slice(prefix.length))];
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, MaxUploads: 10 }));
  return [...names, ...(uploads.Uploads ?? []).map((upload) => `${upload.Key!.slice(prefix.length)}${PARTIAL}`)].filter((name) => name !== '');
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
    throw new SendenseError(`${description}: copy.to.objectLock is set, but the bucket ${bucket} has no object lock: make the bucket with object lock enabled, or leave objectLock out`);
  }
}
