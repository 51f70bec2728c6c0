// One file put in a bucket (docs/copies.md#copies-on-object-storage): a single PUT up to one part's
// size, else a multipart upload with up to four parts in flight. Every request carries the
// Content-MD5 of its body, which the store checks before it keeps it; the object's ETag it answers
// at the end is checked against the one the hub works out of those digests. Nothing is ever
// written under a key twice: the object exists only once the upload completes. A multipart upload
// a killed run left for the same key is resumed: its parts whose MD5 is the hub's are kept.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  UploadPartCommand,
  type ObjectLockMode,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { S3CopyTo } from '../../plan/types.js';
import { crashPoint } from '../../crash-points.js';
import type { OutgoingBytes } from '../outgoing-bytes.js';

const MIB = 1024 * 1024;
const IN_FLIGHT = 4;
// S3 allows 10,000 parts; the part size grows for files over 140 GiB.
const MAX_PARTS = 9000;

// The same for a file of this size on every run, so a resumed upload's parts line up.
export function partSizeFor(size: number): number {
  return Math.max(16 * MIB, Math.ceil(size / MAX_PARTS / MIB) * MIB);
}

export interface UploadPlace {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly lock?: S3CopyTo['objectLock'];
  readonly signal?: AbortSignal;
}

/** What went to the store: how many bytes of parts a killed run had uploaded were kept. */
export interface Uploaded {
  readonly resumedBytes: number;
}

/** The lock an object gets when written: until `days` from now. */
export function lockFields(lock: S3CopyTo['objectLock']): {
  ObjectLockMode?: ObjectLockMode;
  ObjectLockRetainUntilDate?: Date;
} {
  if (lock === undefined) return {};
  return {
    ObjectLockMode: lock.mode === 'governance' ? 'GOVERNANCE' : 'COMPLIANCE',
    ObjectLockRetainUntilDate: new Date(Date.now() + lock.days * 86_400_000),
  };
}

export async function uploadObject(place: UploadPlace, bytes: OutgoingBytes): Promise<Uploaded> {
  const partSize = partSizeFor(bytes.size);
  if (bytes.size <= partSize) return putWhole(place, bytes);
  return putInParts(place, bytes, partSize);
}

async function putWhole(place: UploadPlace, bytes: OutgoingBytes): Promise<Uploaded> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of bytes) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const md5 = createHash('md5').update(body).digest();
  const answer = await place.client.send(
    new PutObjectCommand({
      Bucket: place.bucket,
      Key: place.key,
      Body: body,
      ContentLength: body.length,
      ContentMD5: md5.toString('base64'),
      ...lockFields(place.lock),
    }),
    { abortSignal: place.signal },
  );
  checkEtag(answer.ETag, md5.toString('hex'), place.key);
  await lockVersion(place, answer.VersionId);
  return { resumedBytes: 0 };
}

async function putInParts(place: UploadPlace, bytes: OutgoingBytes, partSize: number): Promise<Uploaded> {
  const { client, bucket, key, signal } = place;
  const left = await leftUpload(place);
  const uploadId =
    left?.uploadId ??
    (
      await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...lockFields(place.lock) }), {
        abortSignal: signal,
      })
    ).UploadId!;
  const md5s: Buffer[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let resumedBytes = 0;
  const send = async (part: number, body: Buffer) => {
    const md5 = createHash('md5').update(body).digest();
    md5s[part - 1] = md5;
    const there = left?.parts.get(part);
    if (there !== undefined && there.size === body.length && there.etag === md5.toString('hex')) {
      resumedBytes += body.length;
      return;
    }
    while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    const sent = client
      .send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: part,
          Body: body,
          ContentLength: body.length,
          ContentMD5: md5.toString('base64'),
        }),
        {
          abortSignal: signal,
        },
      )
      .then((answer) => {
        checkEtag(answer.ETag, md5.toString('hex'), `${key} part ${part}`);
        // A kill -9 with a part in the store, the upload not complete (test/copy/s3-copy.test.ts).
        crashPoint('copy.part-uploaded');
      })
      .catch((error: unknown) => {
        failure ??= error;
      })
      .finally(() => inFlight.delete(sent));
    inFlight.add(sent);
  };
  let part = 1;
  let pending: Buffer[] = [];
  let pendingSize = 0;
  for await (const chunk of bytes) {
    pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    pendingSize += chunk.byteLength;
    while (pendingSize >= partSize) {
      const whole = Buffer.concat(pending, pendingSize);
      await send(part++, whole.subarray(0, partSize));
      pending = pendingSize > partSize ? [whole.subarray(partSize)] : [];
      pendingSize -= partSize;
    }
    if (failure !== undefined) throw failure;
  }
  if (pendingSize > 0) await send(part++, Buffer.concat(pending, pendingSize));
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;
  const parts = md5s.map((md5, i) => ({ PartNumber: i + 1, ETag: `"${md5.toString('hex')}"` }));
  const done = await client.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      MultipartUpload: { Parts: parts },
    }),
    { abortSignal: signal },
  );
  // Some stores (radosgw 16) answer the completion with an empty ETag: the object's own is read then.
  const etag =
    unquote(done.ETag) !== ''
      ? done.ETag
      : (
          await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: done.VersionId }), {
            abortSignal: signal,
          })
        ).ETag;
  checkEtag(etag, multipartEtag(md5s), key);
  await lockVersion(place, done.VersionId);
  return { resumedBytes };
}

/**
 * The lock set on the object's version itself, and read back: some stores (Ceph's radosgw 16)
 * take the lock headers of a multipart upload and leave its object unlocked.
 */
export async function lockVersion(
  place: Pick<UploadPlace, 'client' | 'bucket' | 'key' | 'lock' | 'signal'>,
  versionId: string | undefined,
): Promise<void> {
  const { client, bucket, key, lock, signal } = place;
  if (lock === undefined) return;
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }), {
    abortSignal: signal,
  });
  if (head.ObjectLockMode !== undefined && head.ObjectLockRetainUntilDate !== undefined) return;
  const { ObjectLockMode, ObjectLockRetainUntilDate } = lockFields(lock);
  await client.send(
    new PutObjectRetentionCommand({
      Bucket: bucket,
      Key: key,
      VersionId: head.VersionId ?? versionId,
      Retention: { Mode: ObjectLockMode, RetainUntilDate: ObjectLockRetainUntilDate },
    }),
    {
      abortSignal: signal,
    },
  );
  const again = await client.send(
    new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: head.VersionId ?? versionId }),
    { abortSignal: signal },
  );
  if (again.ObjectLockMode === undefined) throw new Error(`${key} was written but the store did not lock it`);
}

// A multipart upload of this key a killed run left, newest first, with the parts it holds.
async function leftUpload(
  place: UploadPlace,
): Promise<{ uploadId: string; parts: Map<number, { etag: string; size: number }> } | undefined> {
  const { client, bucket, key, signal } = place;
  const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key }), {
    abortSignal: signal,
  });
  const upload = (listed.Uploads ?? [])
    .filter((upload) => upload.Key === key && upload.UploadId !== undefined)
    .sort((a, b) => (b.Initiated?.getTime() ?? 0) - (a.Initiated?.getTime() ?? 0))[0];
  if (upload === undefined) return undefined;
  const parts = new Map<number, { etag: string; size: number }>();
  let marker: string | undefined;
  do {
    const page = await client.send(
      new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: upload.UploadId, PartNumberMarker: marker }),
      { abortSignal: signal },
    );
    for (const part of page.Parts ?? [])
      parts.set(part.PartNumber!, { etag: unquote(part.ETag), size: part.Size ?? -1 });
    marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
  } while (marker !== undefined);
  return { uploadId: upload.UploadId!, parts };
}

/** The ETag the store gives an object of this file's bytes, uploaded as uploadObject does. */
export async function expectedEtag(file: string, size: number): Promise<string> {
  const partSize = partSizeFor(size);
  const md5s: Buffer[] = [];
  let hash = createHash('md5');
  let inPart = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: MIB }) as AsyncIterable<Buffer>) {
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(chunk.length - at, partSize - inPart);
      hash.update(chunk.subarray(at, at + take));
      at += take;
      inPart += take;
      if (inPart === partSize) {
        md5s.push(hash.digest());
        hash = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (inPart > 0 || md5s.length === 0) md5s.push(hash.digest());
  return size <= partSize ? md5s[0]!.toString('hex') : multipartEtag(md5s);
}

// S3's ETag of a multipart object: the MD5 of its parts' MD5s, then "-" and how many.
export function multipartEtag(md5s: readonly Buffer[]): string {
  return `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${md5s.length}`;
}

export function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

function checkEtag(answered: string | undefined, expected: string, what: string): void {
  if (unquote(answered) !== expected)
    throw new Error(`${what} arrived different from what was sent (ETag ${unquote(answered)} there, ${expected} sent)`);
}
