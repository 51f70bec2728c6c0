// The S3 client of an s3 copy (docs/copies.md#copies-on-object-storage): its keys read from the
// environment variables or the credentials file the plan names, at the moment they are needed,
// and never put in a message; and what the object store answered, said in one line.

import { readFile, stat } from 'node:fs/promises';
import { S3Client } from '@aws-sdk/client-s3';
import { SendenseError } from '../../errors.js';
import type { S3CopyTo, S3Credentials } from '../../plan/types.js';
import { hideFromChildren } from '../../process/child-env.js';

const CONNECT_MS = 30_000;
const IDLE_MS = 120_000;

export interface S3Keys {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** The keys, from where the plan says; a SendenseError names the variable or file, never a value. */
export async function s3Keys(credentials: S3Credentials, env: NodeJS.ProcessEnv = process.env): Promise<S3Keys> {
  if ('accessKeyIdEnv' in credentials) {
    hideFromChildren(credentials.accessKeyIdEnv, credentials.secretAccessKeyEnv);
    const read = (name: string) => {
      const value = env[name]?.trim();
      if (value === undefined || value === '')
        throw new SendenseError(
          `the environment variable ${name} (copy.to) is not set: it holds a key of the object store`,
        );
      return value;
    };
    return { accessKeyId: read(credentials.accessKeyIdEnv), secretAccessKey: read(credentials.secretAccessKeyEnv) };
  }
  const { file, profile } = credentials;
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new SendenseError(
      `cannot read the credentials file ${file} (copy.to.credentialsFile): ${error.code ?? error.message}`,
    );
  });
  if (((await stat(file)).mode & 0o077) !== 0)
    throw new SendenseError(
      `the credentials file ${file} (copy.to.credentialsFile) can be read by others: chmod 600 it`,
    );
  const section = iniSection(text, profile);
  const accessKeyId = section?.get('aws_access_key_id');
  const secretAccessKey = section?.get('aws_secret_access_key');
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    throw new SendenseError(
      `the credentials file ${file} has no aws_access_key_id and aws_secret_access_key under [${profile}]`,
    );
  }
  return { accessKeyId, secretAccessKey };
}

// One [section] of an AWS shared credentials file: "key = value" lines.
function iniSection(text: string, name: string): Map<string, string> | undefined {
  let current: string | undefined;
  let found: Map<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*(?:profile\s+)?([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      current = header[1];
      if (current === name) found = new Map();
      continue;
    }
    const eq = line.indexOf('=');
    if (current === name && found !== undefined && eq > 0)
      found.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return found;
}

// Path-style addressing (most object stores but AWS serve only that). Checksums only where a
// request needs one: the SDK's default CRC32 trailers are refused by many stores, and every
// upload here carries a Content-MD5 of its own (s3-upload.ts).
export function s3Client(to: S3CopyTo, keys: S3Keys): S3Client {
  // The SDK warns on stderr under Node.js 20, a line the project supports (package.json engines).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    endpoint: to.endpoint,
    region: to.region,
    forcePathStyle: true,
    credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
    // A store that stops reading (a full cluster blocks writes) fails the request instead of holding the run forever.
    requestHandler: { connectionTimeout: CONNECT_MS, requestTimeout: IDLE_MS, throwOnRequestTimeout: true },
  });
}

/** What the store answered, as one line about `what` on `description`. */
export function s3Problem(description: string, what: string, error: unknown): SendenseError {
  return new SendenseError(`${description}: ${what}: ${s3Reason(error)}`, { cause: error });
}

// In a few words, by the error's code: what the store said, or why it could not be reached.
export function s3Reason(error: unknown): string {
  const facts = error as {
    name?: string;
    Code?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    message?: string;
  };
  const code = facts.Code ?? facts.name;
  const status = facts.$metadata?.httpStatusCode;
  switch (code) {
    case 'InvalidAccessKeyId':
      return 'the store does not know the access key id (InvalidAccessKeyId): check the credentials the plan names';
    case 'SignatureDoesNotMatch':
      return 'the secret access key is wrong (SignatureDoesNotMatch): check the credentials the plan names';
    case 'AccessDenied':
      return 'access denied (AccessDenied): the credentials may not do this';
    case 'NoSuchBucket':
      return 'the bucket does not exist (NoSuchBucket): make it first (with object lock enabled for objectLock)';
    case 'BadDigest':
    case 'InvalidDigest':
      return `what arrived differs from what was sent (${code})`;
    case 'QuotaExceeded':
      return 'over the quota (QuotaExceeded)';
    case 'TimeoutError':
      // The SDK names a connection dropped under a request (ECONNRESET, EPIPE) a TimeoutError too.
      if (facts.code === 'ECONNRESET' || facts.code === 'EPIPE') return `it dropped the connection (${facts.code})`;
      if (facts.code !== 'ETIMEDOUT') return `it did not accept a connection within ${CONNECT_MS / 1000} s`;
      return `it stopped answering (nothing for ${IDLE_MS / 1000} s; a full store blocks writes so)`;
  }
  const network = facts.code ?? (error as { cause?: { code?: string } }).cause?.code;
  if (network !== undefined && /^E[A-Z]+$/.test(network)) return `cannot reach it (${network})`;
  if (code === 'NotFound' && status === 404) return 'not found (404)';
  if (code !== undefined && code !== 'Error' && code !== 'UnknownError')
    return `${code}${status === undefined ? '' : ` (HTTP ${status})`}`;
  return facts.message ?? String(error);
}
