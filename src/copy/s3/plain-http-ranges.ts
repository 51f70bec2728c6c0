// A bucket view's ranged GETs from an http:// endpoint, without the SDK
// (docs/copies.md#reading-straight-from-a-bucket): each connection reads into one buffer of its
// own, and a block's bytes are copied from it once, into the block. The SDK's path allocates a new
// buffer per socket read and passes each through its streams: 1.2 CPU-s per GiB here against 0.35
// (bench/README.md#s3-lazy-restore). An https:// endpoint keeps the SDK (bucket-blocks.ts).
//
// Only what these GETs need of HTTP/1.1: one request at a time per connection, kept alive; an
// answer is 206 with the Content-Range asked (or 200 of a whole object) and a Content-Length, else
// it is an error. Signed with AWS Signature Version 4, the payload unsigned (a GET has none).

import { createHash, createHmac } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { S3Keys } from './s3-client.js';
import type { RangeGet, ServedObject } from './bucket-blocks.js';

const READ_BUFFER = 256 * 1024;
const HEAD_MOST = 64 * 1024;
const ERROR_BODY_MOST = 64 * 1024;
const ATTEMPTS = 4;
const CONNECT_MS = 30_000;
const IDLE_MS = 120_000;

/** What the store answered, shaped as the SDK's errors are (s3Reason reads it). */
export class PlainHttpError extends Error {
  constructor(
    message: string,
    readonly Code: string | undefined,
    readonly $metadata: { readonly httpStatusCode?: number },
  ) {
    super(message);
    this.name = Code ?? 'Error';
  }
}

export interface PlainHttpRanges {
  readonly get: RangeGet;
  /** Ends the connections kept alive. */
  close(): void;
}

interface Connection {
  readonly socket: Socket;
  // The answer being read: each chunk as it comes (valid only during the call), and its end.
  take?: (chunk: Buffer) => void;
  fail?: (error: Error) => void;
}

/** Undefined for an endpoint that is not plain http (its reads keep the SDK). */
export function plainHttpRanges(
  endpoint: string,
  region: string,
  bucket: string,
  keys: S3Keys,
): PlainHttpRanges | undefined {
  const url = new URL(endpoint);
  if (url.protocol !== 'http:' || url.username !== '' || url.password !== '') return undefined;
  const port = url.port === '' ? 80 : Number(url.port);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const base = url.pathname.replace(/\/+$/, '');
  const idle: Connection[] = [];
  const all = new Set<Connection>();
  let closed = false;

  const open = (): Promise<Connection> =>
    new Promise((resolve, reject) => {
      const buffer = Buffer.allocUnsafe(READ_BUFFER);
      const connection: Connection = {
        socket: connect({
          host: hostname,
          port,
          onread: {
            buffer,
            callback: (length: number) => {
              connection.take?.(buffer.subarray(0, length));
              return true;
            },
          },
        }),
      };
      const { socket } = connection;
      all.add(connection);
      socket.setNoDelay(true);
      socket.setTimeout(CONNECT_MS);
      const ended = (error: Error) => {
        reject(error);
        const index = idle.indexOf(connection);
        if (index >= 0) idle.splice(index, 1);
        all.delete(connection);
        socket.destroy();
        const fail = connection.fail;
        connection.take = connection.fail = undefined;
        fail?.(error);
      };
      socket.once('connect', () => {
        socket.setTimeout(IDLE_MS);
        resolve(connection);
      });
      socket.on('timeout', () => ended(Object.assign(new Error('the store stopped answering'), { code: 'ETIMEDOUT' })));
      socket.on('error', ended);
      socket.on('end', () =>
        ended(Object.assign(new Error('the store closed the connection'), { code: 'ECONNRESET' })),
      );
      socket.on('close', () => ended(Object.assign(new Error('the connection closed'), { code: 'ECONNRESET' })));
    });

  const once = async (object: ServedObject, start: number, end: number, into: Buffer): Promise<Buffer> => {
    if (closed) throw new Error('the view is closed');
    const connection = idle.pop() ?? (await open());
    const { socket } = connection;
    socket.ref();
    try {
      const keepAlive = await new Promise<boolean>((resolve, reject) => {
        connection.fail = reject;
        connection.take = answerReader(object, start, end, into, resolve, reject);
        socket.write(request(object, start, end));
      });
      connection.take = connection.fail = undefined;
      if (keepAlive && !closed && all.has(connection)) {
        socket.unref();
        // Nothing may come on a connection at rest: if it does, the connection goes.
        connection.take = () => socket.destroy();
        idle.push(connection);
      } else {
        all.delete(connection);
        socket.destroy();
      }
      return into;
    } catch (error) {
      connection.take = connection.fail = undefined;
      all.delete(connection);
      socket.destroy();
      throw error;
    }
  };

  const request = (object: ServedObject, start: number, end: number): string => {
    const path = `${base}/${uriEncode(bucket)}/${object.key.split('/').map(uriEncode).join('/')}`;
    const query = object.versionId === undefined ? '' : `versionId=${uriEncode(object.versionId)}`;
    const headers: [string, string][] = [
      ['host', url.host],
      ...(object.etag === undefined ? [] : [['if-match', object.etag] as [string, string]]),
      ['range', `bytes=${start}-${end}`],
      ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD'],
      ['x-amz-date', amzDate(new Date())],
    ];
    const authorization = signature(keys, region, 'GET', path, query, headers);
    return [
      `GET ${path}${query === '' ? '' : `?${query}`} HTTP/1.1`,
      ...headers.map(([name, value]) => `${name}: ${value}`),
      `authorization: ${authorization}`,
      '',
      '',
    ].join('\r\n');
  };

  const get: RangeGet = async (object, start, end, given) => {
    const into = given?.length === end - start + 1 ? given : Buffer.allocUnsafe(end - start + 1);
    for (let attempt = 1; ; attempt++) {
      try {
        return [await once(object, start, end, into)];
      } catch (error) {
        if (attempt >= ATTEMPTS || closed || !retryable(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
  };

  return {
    get,
    close: () => {
      closed = true;
      for (const connection of all) connection.socket.destroy();
      all.clear();
      idle.length = 0;
    },
  };
}

// Reads one answer off the connection's chunks: its head, then its body into `into`. Resolves with
// whether the connection may carry another request.
function answerReader(
  object: ServedObject,
  start: number,
  end: number,
  into: Buffer,
  resolve: (keepAlive: boolean) => void,
  reject: (error: Error) => void,
): (chunk: Buffer) => void {
  let head = '';
  let status = 0;
  let http11 = false;
  let fields = new Map<string, string>();
  let body = -1;
  let got = 0;
  let errorBody = '';
  let done = false;
  const finish = (outcome: boolean | Error) => {
    done = true;
    if (outcome instanceof Error) reject(outcome);
    else resolve(outcome);
  };
  return (chunk) => {
    if (done) return finish(new Error('the store sent more than it said'));
    let at = 0;
    if (body < 0) {
      const before = head.length;
      head += chunk.toString('latin1');
      const headEnd = head.indexOf('\r\n\r\n');
      if (headEnd < 0) {
        if (head.length > HEAD_MOST) finish(new Error("the store's answer has no end to its head"));
        return;
      }
      at = headEnd + 4 - before;
      const lines = head.slice(0, headEnd).split('\r\n');
      const line = /^HTTP\/1\.([01]) ([0-9]{3})/.exec(lines[0]!);
      http11 = line?.[1] === '1';
      status = Number(line?.[2] ?? 0);
      fields = new Map(
        lines.slice(1).map((line) => {
          const colon = line.indexOf(':');
          return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()] as [string, string];
        }),
      );
      const length = fields.get('content-length');
      body = length !== undefined && /^[0-9]+$/.test(length) ? Number(length) : Number.POSITIVE_INFINITY;
      if (status >= 200 && status < 300) {
        const problem = rangeProblem(status, fields, object, start, end, body);
        if (problem !== undefined) return finish(new Error(`${object.key}: ${problem}`));
      }
    }
    const rest = chunk.subarray(at);
    if (status < 200 || status >= 300) {
      // Its body says why (<Code>); one of unknown length is read as far as it came (the connection goes).
      errorBody += rest.toString('latin1');
      if (errorBody.length >= Math.min(body, ERROR_BODY_MOST) || !Number.isFinite(body))
        finish(storeError(status, errorBody));
      return;
    }
    if (got + rest.length > body) return finish(new Error(`${object.key}: the store sent more than it said`));
    got += rest.copy(into, got);
    if (got === body) finish(http11 && !/\bclose\b/i.test(fields.get('connection') ?? ''));
  };
}

// A success must be exactly the bytes asked: their Content-Range and Content-Length.
function rangeProblem(
  status: number,
  fields: ReadonlyMap<string, string>,
  object: ServedObject,
  start: number,
  end: number,
  body: number,
): string | undefined {
  if (fields.has('transfer-encoding')) return `a ranged GET came back ${fields.get('transfer-encoding')}, not sized`;
  if (body !== end - start + 1) return `${Number.isFinite(body) ? body : 'unsized'} bytes came for ${start}-${end}`;
  if (status === 200) return start === 0 && end === object.size - 1 ? undefined : 'the store ignored the range';
  if (status !== 206) return `HTTP ${status} for a ranged GET`;
  const range = /^bytes ([0-9]+)-([0-9]+)\//.exec(fields.get('content-range') ?? '');
  if (range === null || Number(range[1]) !== start || Number(range[2]) !== end)
    return `the store sent ${fields.get('content-range') ?? 'no range'} for ${start}-${end}`;
  return undefined;
}

function storeError(status: number, text: string): PlainHttpError {
  const code =
    /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1] ??
    (status === 412 ? 'PreconditionFailed' : status === 404 ? 'NotFound' : undefined);
  return new PlainHttpError(`${code ?? 'HTTP'} (HTTP ${status})`, code, { httpStatusCode: status });
}

// Connections that broke and the store's own trouble are tried again; what it refused is not.
function retryable(error: unknown): boolean {
  if (error instanceof PlainHttpError) {
    const status = error.$metadata.httpStatusCode ?? 0;
    return status >= 500 || status === 429 || error.Code === 'SlowDown' || error.Code === 'RequestTimeout';
  }
  return typeof (error as { code?: unknown }).code === 'string';
}

// RFC 3986's unreserved characters stay; everything else is %XX of its UTF-8 (what SigV4 signs).
function uriEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function amzDate(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.[0-9]{3}/, '');
}

// The Authorization header of AWS Signature Version 4 (the headers given are all signed).
function signature(
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
