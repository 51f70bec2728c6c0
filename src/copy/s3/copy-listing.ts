// What a copy's bucket holds, as the copy target tells it: the copy's root with the names right
// under it, and the files of a folder with their sizes.

import {
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { S3CopyTo } from '../../plan/types.js';
import { REPOSITORY_MARKER } from '../../repository/marker.js';
import type { TargetRoot } from '../copy-target.js';
import { PARTIAL, type CopyObjects } from './copy-objects.js';
import { requireObjectLock } from './object-locks.js';

// The bucket can be used, and what is under the copy's prefix; read: a file's text (the marker).
export async function inspectCopy(
  objects: CopyObjects,
  read: (relative: string) => Promise<string | undefined>,
): Promise<TargetRoot> {
  const { client, to, bucket, description, fail } = objects;
  // A request with an answer's body (not HEAD): the store says what is wrong by its code.
  await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 })).catch(fail('cannot open the bucket'));
  if (to.objectLock !== undefined) await requireObjectLock(client, bucket, description);
  const inside = await markerAbove(client, to);
  const entries = await listNames(client, bucket, to.prefix === '' ? '' : `${to.prefix}/`).catch(
    fail('cannot list it'),
  );
  if (entries.length === 0) return { state: 'missing', inside };
  const marker = await read(REPOSITORY_MARKER);
  return { state: 'directory', entries, inside, ...(marker !== undefined && { marker }) };
}

// The files in a folder and the folders one below, with their sizes.
export async function listFiles(objects: CopyObjects, dir: string): Promise<Map<string, number>> {
  const { client, bucket, key, fail } = objects;
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
