// One object of a bucket brought back into a file (docs/copies.md#restoring-from-a-bucket): ranged
// GETs along the parts it was uploaded in (s3-upload.ts), four in flight, each written at its
// offset into `<file>.partial` and its MD5 taken; only when those MD5s make the object's ETag is
// the file made durable and renamed to its name. A file of the same size already there whose
// ETag is the object's is kept. An object another tool put in another part layout (one PUT of a
// large file, other part sizes) has an ETag our parts cannot make: a plain MD5 is checked over the
// whole file, and the caller's `otherLayout` check (the manifest's digests) decides.

import { createHash } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { syncPath } from '../../repository/sync-path.js';
import { createNewFile } from '../../repository/new-file.js';
import { expectedEtag, multipartEtag, partSizeFor } from './s3-upload.js';

const IN_FLIGHT = 4;

export interface ObjectToFetch {
  readonly key: string;
  readonly size: number;
  /** As the store lists it, unquoted. */
  readonly etag: string;
  /** The version to read; the current one when left out. */
  readonly versionId?: string;
}

/** Checks a file whose ETag our parts cannot make (another part layout); throws when it is not what it should be. */
export type OtherLayoutCheck = (partial: string) => Promise<void>;

/** 'kept': the file was there with those bytes; 'fetched': brought now. */
export async function downloadObject(
  client: S3Client,
  bucket: string,
  object: ObjectToFetch,
  file: string,
  signal?: AbortSignal,
  otherLayout?: OtherLayoutCheck,
): Promise<'kept' | 'fetched'> {
  const there = await stat(file).catch(() => undefined);
  if (there?.size === object.size && (await etagOfFile(file, object)) === object.etag) return 'kept';
  const partial = `${file}.partial`;
  // A partial file a killed fetch left (or a symlink put in its place) goes first.
  const handle = await createNewFile(partial, 0o600);
  try {
    const partSize = partSizeFor(object.size);
    const parts = Math.max(1, Math.ceil(object.size / partSize));
    const md5s: Buffer[] = [];
    let next = 0;
    const worker = async () => {
      for (let part = next++; part < parts; part = next++) {
        const start = part * partSize;
        const end = Math.min(object.size, start + partSize) - 1;
        const range = object.size === 0 ? undefined : `bytes=${start}-${end}`;
        const answer = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: object.key, Range: range, VersionId: object.versionId }),
          { abortSignal: signal },
        );
        const body = Buffer.from(await answer.Body!.transformToByteArray());
        if (body.length !== end - start + 1)
          throw new Error(`${object.key}: ${body.length} bytes came for the range ${start}-${end}`);
        md5s[part] = createHash('md5').update(body).digest();
        await handle.write(body, 0, body.length, start);
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, parts) }, worker));
    const ours = parts === 1 && !object.etag.includes('-') ? md5s[0]!.toString('hex') : multipartEtag(md5s);
    if (ours !== object.etag) await checkOtherLayout(object, partial, parts, otherLayout);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(partial, { force: true });
    throw error;
  }
  await handle.close();
  await rename(partial, file);
  await syncPath(path.dirname(file));
  return 'fetched';
}

// Our parts did not make the ETag: a plain MD5 is the whole file's; "-N" another tool's N parts, or
// our count cut elsewhere. Either way the caller's check decides; without one, the object is refused.
async function checkOtherLayout(
  object: ObjectToFetch,
  partial: string,
  parts: number,
  otherLayout: OtherLayoutCheck | undefined,
): Promise<void> {
  const count = /-(\d+)$/.exec(object.etag)?.[1];
  if (count === undefined) {
    const whole = await wholeMd5(partial);
    if (whole !== object.etag)
      throw new Error(
        `${object.key} read back different from what the store holds (ETag ${object.etag} there, ${whole} read)`,
      );
  }
  if (otherLayout === undefined) {
    if (count === undefined) return;
    throw new Error(
      Number(count) === parts
        ? `${object.key} read back different from what the store holds (ETag ${object.etag} there, the ${parts} parts read make another)`
        : `${object.key} was uploaded in ${count} parts of a size this fetch cannot tell (ETag ${object.etag}), and nothing else can check its bytes`,
    );
  }
  await otherLayout(partial);
}

// The ETag the file would have in the object's layout: a plain MD5 of the whole, or our parts'.
async function etagOfFile(file: string, object: ObjectToFetch): Promise<string> {
  return object.etag.includes('-') ? expectedEtag(file, object.size) : wholeMd5(file);
}

async function wholeMd5(file: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>)
    hash.update(chunk);
  return hash.digest('hex');
}
