// A bucket view's own GETs from an http:// endpoint (docs/copies.md#reading-straight-from-a-bucket),
// against a store that misbehaves on purpose: a local HTTP server on 127.0.0.1 standing in for
// radosgw where radosgw cannot be made to (a dropped connection, a wrong range, a 503). The same
// GETs against the real radosgw: test/copy/s3-lazy-view.test.ts.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { plainHttpRanges, type PlainHttpRanges } from '../../src/copy/s3/plain-http-ranges.js';
import { s3Reason } from '../../src/copy/s3/s3-client.js';

const keys = { accessKeyId: 'AKIDPLAINHTTPTEST', secretAccessKey: 'not-to-be-seen-secret-0123456789' };
const object = { key: 'copy/vm/disk-2000/20261127-000000-abcd.qcow2', size: 3 * 1024 * 1024 + 17 };
const bytes = randomBytes(object.size);

const servers: Server[] = [];
const readers: PlainHttpRanges[] = [];
afterEach(async () => {
  for (const reader of readers.splice(0)) reader.close();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

type Answer = (request: IncomingMessage, response: ServerResponse, count: number) => void;

// A store answering each GET with `answer` (given how many came before); the requests it saw.
async function store(answer: Answer, keepAliveTimeout = 5000) {
  const seen: { readonly head: string; readonly url: string }[] = [];
  const server = createServer((request, response) => {
    seen.push({ head: request.rawHeaders.join('\n'), url: request.url ?? '' });
    answer(request, response, seen.length - 1);
  });
  server.keepAliveTimeout = keepAliveTimeout;
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const reader = plainHttpRanges(`http://127.0.0.1:${port}`, 'us-east-1', 'bench', keys)!;
  readers.push(reader);
  return { reader, seen };
}

// What radosgw answers: the range asked, 206.
function ranged(request: IncomingMessage, response: ServerResponse): void {
  const [, from, to] = /bytes=([0-9]+)-([0-9]+)/.exec(request.headers.range ?? '')!.map(Number);
  response.writeHead(206, {
    'content-range': `bytes ${from}-${to}/${object.size}`,
    'content-length': to! - from! + 1,
  });
  response.end(bytes.subarray(from, to! + 1));
}

describe("a view's own GETs over plain HTTP (a misbehaving store: a local HTTP server)", () => {
  it('ranges come back exactly, over one kept-alive connection; the key id is sent, the secret never', async () => {
    const { reader, seen } = await store(ranged);
    for (const [start, end] of [
      [0, 1024 * 1024 - 1],
      [1024 * 1024, 3 * 1024 * 1024 + 16],
      [object.size - 1, object.size - 1],
    ] as const)
      expect(Buffer.concat(await reader.get(object, start, end)).equals(bytes.subarray(start, end + 1))).toBe(true);
    expect(seen).toHaveLength(3);
    expect(seen[0]!.url).toBe(`/bench/${object.key}`);
    for (const { head } of seen) {
      expect(head).toContain(`Credential=${keys.accessKeyId}/`);
      expect(head).not.toContain(keys.secretAccessKey);
    }
  });

  it('a connection dropped in the middle of a body, and a 503, are tried again: the bytes come back exactly', async () => {
    const { reader, seen } = await store((request, response, count) => {
      if (count === 0) {
        response.writeHead(206, {
          'content-range': `bytes 0-${object.size - 1}/${object.size}`,
          'content-length': object.size,
        });
        response.write(bytes.subarray(0, 1000));
        setTimeout(() => request.socket.destroy(), 20);
      } else if (count === 1) {
        response.writeHead(503, { 'content-type': 'application/xml' });
        response.end('<Error><Code>SlowDown</Code></Error>');
      } else ranged(request, response);
    });
    expect(Buffer.concat(await reader.get(object, 0, object.size - 1)).equals(bytes)).toBe(true);
    expect(seen).toHaveLength(3);
  });

  it('a connection the store closed while it was kept alive is not an error: the next GET makes a new one', async () => {
    const { reader, seen } = await store(ranged, 50);
    expect(Buffer.concat(await reader.get(object, 0, 99)).equals(bytes.subarray(0, 100))).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(Buffer.concat(await reader.get(object, 100, 199)).equals(bytes.subarray(100, 200))).toBe(true);
    expect(seen).toHaveLength(2);
  });

  it("what the store refuses is not tried again, and says why in the store's words", async () => {
    const { reader, seen } = await store((_request, response) => {
      response.writeHead(403, { 'content-type': 'application/xml' });
      response.end('<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>');
    });
    const error = await reader.get(object, 0, 99).catch((caught: unknown) => caught);
    expect(s3Reason(error)).toMatch(/access denied \(AccessDenied\)/);
    expect(seen).toHaveLength(1);
  });

  it('bytes that are not the range asked are refused, never served', async () => {
    const answers: Answer[] = [
      // Another range than asked.
      (_request, response) => {
        response.writeHead(206, { 'content-range': `bytes 100-199/${object.size}`, 'content-length': 100 });
        response.end(bytes.subarray(100, 200));
      },
      // The whole object, the range ignored.
      (_request, response) => {
        response.writeHead(200, { 'content-length': object.size });
        response.end(bytes);
      },
      // Fewer bytes than asked.
      (_request, response) => {
        response.writeHead(206, { 'content-range': `bytes 0-49/${object.size}`, 'content-length': 50 });
        response.end(bytes.subarray(0, 50));
      },
    ];
    for (const answer of answers) {
      const { reader } = await store(answer);
      await expect(reader.get(object, 0, 99)).rejects.toThrow(/came for|sent|ignored/);
    }
  });

  it('an https:// endpoint is left to the SDK', () => {
    expect(plainHttpRanges('https://s3.example.com', 'us-east-1', 'bench', keys)).toBeUndefined();
  });
});
