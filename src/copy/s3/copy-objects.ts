// The copy's objects in its bucket: each file's key under the plan's prefix, what HEAD says of
// it, and errors that name the store and what could not be done.

import path from 'node:path';
import { HeadObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import type { S3CopyTo } from '../../plan/types.js';
import { s3Problem } from './s3-client.js';
import { s3Description } from './s3-description.js';

/** What a partial file's name ends with: a multipart upload not yet complete. */
export const PARTIAL = '.partial';

export interface CopyObjects {
  readonly client: S3Client;
  readonly to: S3CopyTo;
  readonly bucket: string;
  readonly description: string;
  /** The object key of a file of the copy. */
  key(relative: string): string;
  /** Throws a request's error again as the store's problem, saying what could not be done. */
  fail(what: string): (error: unknown) => never;
  /** The object's metadata, or undefined when it is not there. */
  head(relative: string): Promise<HeadObjectCommandOutput | undefined>;
}

export function copyObjects(client: S3Client, to: S3CopyTo): CopyObjects {
  const description = s3Description(to);
  const { bucket } = to;
  const key = (relative: string): string => (to.prefix === '' ? relative : path.posix.join(to.prefix, relative));
  const fail = (what: string) => (error: unknown) => {
    throw s3Problem(description, what, error);
  };
  const head = (relative: string): Promise<HeadObjectCommandOutput | undefined> =>
    client
      .send(new HeadObjectCommand({ Bucket: bucket, Key: key(relative) }))
      .catch((error: unknown) => (isMissing(error) ? undefined : fail(`cannot read ${relative}`)(error)));
  return { client, to, bucket, description, key, fail, head };
}

/** The store's answer for a key that is not there (GET says NoSuchKey, HEAD NotFound). */
export function isMissing(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound';
}
