// AWS Signature Version 4 for the plain GETs of plain-http-ranges.ts, the payload unsigned.

import { createHash, createHmac } from 'node:crypto';
import type { S3Keys } from './s3-client.js';

// RFC 3986's unreserved characters stay; everything else is %XX of its UTF-8 (what SigV4 signs).
export function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function amzDate(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.[0-9]{3}/, '');
}

// The Authorization header of AWS Signature Version 4 (the headers given are all signed).
export function signature(
  keys: S3Keys,
  region: string,
  method: string,
  path: string,
  query: string,
  headers: readonly (readonly [string, string])[],
): string {
  const date = headers.find(([name]) => name === 'x-amz-date')![1];
  const day = date.slice(0, 8);
  const sorted = [...headers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signed = sorted.map(([name]) => name).join(';');
  const canonical = [
    method,
    path,
    query,
    ...sorted.map(([name, value]) => `${name}:${value.trim().replace(/\s+/g, ' ')}`),
    '',
    signed,
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  let key: Buffer = Buffer.from(`AWS4${keys.secretAccessKey}`);
  for (const part of [day, region, 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  const mac = createHmac('sha256', key).update(toSign).digest('hex');
  return `AWS4-HMAC-SHA256 Credential=${keys.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${mac}`;
}
