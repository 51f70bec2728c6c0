// One object of a bucket brought back into a file (docs/copies.md#restoring-from-a-bucket): ranged
// GETs along the parts it was uploaded in (s3-upload.ts), four in flight, each written at its
// offset into `<file>.partial` and its MD5 taken; only when those MD5s make the object's ETag is
// the file made durable and renamed to its name. A file of the same size already there whose
// ETag is the object's is kept.

import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { syncPath } from '../../repository/sync-path.js';
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

/** 'kept': the file was there with those bytes; 'fetched': brought now. */
export async function downloadObject(client: S3Client, bucket: string, object: ObjectToFetch, file: string, signal?: AbortSignal): Promise<'kept' | 'fetched'> {
  const there = await stat(file).catch(() => undefined);
  if (there?.size === object.size && (await expectedEtag(file, object.size)) === object.etag) return 'kept';
  const partial = `${file}.partial`;
  const handle = await open(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
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
        const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: object.key, Range: range, VersionId: object.versionId }), { abortSignal: signal });
        const body = Buffer.from(await answer.Body!.transformToByteArray());
        if (body.length !== end - start + 1) throw new Error(`${object.key}: ${body.length} bytes came for the range ${start}-${end}`);
        md5s[part] = createHash('md5').update(body).digest();
        await handle.write(body, 0, body.length, start);
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, parts) }, worker));
    const got = parts === 1 && !object.etag.includes('-') ? md5s[0]!.toString('hex') : multipartEtag(md5s);
    if (got !== object.etag) throw new Error(`${object.key} read back different from what the store holds (ETag ${object.etag} there, ${got} read)`);
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
