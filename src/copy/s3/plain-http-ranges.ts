// A bucket view's ranged GETs from an http:// endpoint, without the SDK
// (docs/copies.md#reading-straight-from-a-bucket): each connection reads into one buffer of its
// own, and a block's bytes are copied from it once, into the block. The SDK's path allocates a new
// buffer per socket read and passes each through its streams: 1.2 CPU-s per GiB here against 0.35
// (bench/README.md#s3-lazy-restore). An https:// endpoint keeps the SDK (bucket-blocks.ts).
//
// Only what these GETs need of HTTP/1.1: one request at a time per connection, kept alive; an
// answer is 206 with the Content-Range asked (or 200 of a whole object) and a Content-Length, else
// it is an error. Signed with AWS Signature Version 4, the payload unsigned (a GET has none).

import { connect, type Socket } from 'node:net';
import type { S3Keys } from './s3-client.js';
import type { RangeGet, ServedObject } from './bucket-blocks.js';
import { answerReader, PlainHttpError } from './range-answer.js';
import { amzDate, signature, uriEncode } from './sigv4.js';

const READ_BUFFER = 256 * 1024;
const ATTEMPTS = 4;
const CONNECT_MS = 30_000;
const IDLE_MS = 120_000;

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

// Where the GETs go and what signs them.
interface Store {
  readonly url: URL;
  readonly hostname: string;
  readonly port: number;
  readonly base: string;
  readonly region: string;
  readonly bucket: string;
  readonly keys: S3Keys;
}

// The connections open: the idle ones wait for the next GET; none is kept once closed.
interface Kept {
  readonly idle: Connection[];
  readonly all: Set<Connection>;
  closed: boolean;
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
  const store: Store = {
    url,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port === '' ? 80 : Number(url.port),
    base: url.pathname.replace(/\/+$/, ''),
    region,
    bucket,
    keys,
  };
  const kept: Kept = { idle: [], all: new Set(), closed: false };

  const get: RangeGet = async (object, start, end, given) => {
    const into = given?.length === end - start + 1 ? given : Buffer.allocUnsafe(end - start + 1);
    for (let attempt = 1; ; attempt++) {
      try {
        return [await getOnce(store, kept, object, start, end, into)];
      } catch (error) {
        if (attempt >= ATTEMPTS || kept.closed || !retryable(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
      }
    }
  };

  return {
    get,
    close: () => {
      kept.closed = true;
      for (const connection of kept.all) connection.socket.destroy();
      kept.all.clear();
      kept.idle.length = 0;
    },
  };
}

// A new connection, kept in `all` until it ends; however it ends, the answer it was reading fails.
function openConnection(store: Store, kept: Kept): Promise<Connection> {
  const { idle, all } = kept;
  return new Promise((resolve, reject) => {
    const buffer = Buffer.allocUnsafe(READ_BUFFER);
    const connection: Connection = {
      socket: connect({
        host: store.hostname,
        port: store.port,
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
    socket.on('end', () => ended(Object.assign(new Error('the store closed the connection'), { code: 'ECONNRESET' })));
    socket.on('close', () => ended(Object.assign(new Error('the connection closed'), { code: 'ECONNRESET' })));
  });
}

// One GET on an idle connection or a new one; kept alive after if the answer allows, else it goes.
async function getOnce(
  store: Store,
  kept: Kept,
  object: ServedObject,
  start: number,
  end: number,
  into: Buffer,
): Promise<Buffer> {
  if (kept.closed) throw new Error('the view is closed');
  const connection = kept.idle.pop() ?? (await openConnection(store, kept));
  const { socket } = connection;
  socket.ref();
  try {
    const keepAlive = await new Promise<boolean>((resolve, reject) => {
      connection.fail = reject;
      connection.take = answerReader(object, start, end, into, resolve, reject);
      socket.write(rangeRequest(store, object, start, end));
    });
    connection.take = connection.fail = undefined;
    if (keepAlive && !kept.closed && kept.all.has(connection)) {
      socket.unref();
      // Nothing may come on a connection at rest: if it does, the connection goes.
      connection.take = () => socket.destroy();
      kept.idle.push(connection);
    } else {
      kept.all.delete(connection);
      socket.destroy();
    }
    return into;
  } catch (error) {
    connection.take = connection.fail = undefined;
    kept.all.delete(connection);
    socket.destroy();
    throw error;
  }
}

// The request's text: a signed GET of the bytes start-end of the object's version, if its ETag still matches.
function rangeRequest(store: Store, object: ServedObject, start: number, end: number): string {
  const path = `${store.base}/${uriEncode(store.bucket)}/${object.key.split('/').map(uriEncode).join('/')}`;
  const query = object.versionId === undefined ? '' : `versionId=${uriEncode(object.versionId)}`;
  const headers: [string, string][] = [
    ['host', store.url.host],
    ...(object.etag === undefined ? [] : [['if-match', object.etag] as [string, string]]),
    ['range', `bytes=${start}-${end}`],
    ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD'],
    ['x-amz-date', amzDate(new Date())],
  ];
  const authorization = signature(store.keys, store.region, 'GET', path, query, headers);
  return [
    `GET ${path}${query === '' ? '' : `?${query}`} HTTP/1.1`,
    ...headers.map(([name, value]) => `${name}: ${value}`),
    `authorization: ${authorization}`,
    '',
    '',
  ].join('\r\n');
}

// Connections that broke and the store's own trouble are tried again; what it refused is not.
function retryable(error: unknown): boolean {
  if (error instanceof PlainHttpError) {
    const status = error.$metadata.httpStatusCode ?? 0;
    return status >= 500 || status === 429 || error.Code === 'SlowDown' || error.Code === 'RequestTimeout';
  }
  return typeof (error as { code?: unknown }).code === 'string';
}
