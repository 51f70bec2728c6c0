// A kept listing is sent as the same bytes every time, gzipped only for a client that asks
// (src/api/json-answer.ts): what the client unpacks is exactly the JSON, and a small answer or a
// client that refuses gzip gets it plain.

import { gunzipSync } from 'node:zlib';
import fastify from 'fastify';
import { afterAll, expect, it } from 'vitest';
import { GZIP_FROM, acceptsGzip, sendJsonText } from '../../src/api/json-answer.js';
import { JsonText } from '../../src/api/route.js';

const points = Array.from({ length: 2000 }, (_, i) => ({ id: `point-${i}`, vm: 'web01', sizeOnDisk: i * 4096 }));
const big = new JsonText(JSON.stringify({ backups: points }));
const small = new JsonText(JSON.stringify({ backups: points.slice(0, 3) }));
const app = fastify();
app.get('/big', (request, reply) => sendJsonText(request, reply, big));
app.get('/small', (request, reply) => sendJsonText(request, reply, small));
afterAll(() => app.close());

it('gzips a big answer for a client that asks, and the unpacked bytes are the JSON', async () => {
  expect(big.bytes.length).toBeGreaterThan(GZIP_FROM);
  const zipped = await app.inject({ url: '/big', headers: { 'accept-encoding': 'gzip, deflate, br' } });
  expect(zipped.headers['content-encoding']).toBe('gzip');
  expect(zipped.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(zipped.rawPayload.length).toBeLessThan(big.bytes.length / 4);
  expect(gunzipSync(zipped.rawPayload).toString('utf8')).toBe(big.text);

  const plain = await app.inject({ url: '/big' });
  expect(plain.headers['content-encoding']).toBeUndefined();
  expect(plain.payload).toBe(big.text);
});

it('sends a small answer, or one to a client that refuses gzip, plain', async () => {
  const reply = await app.inject({ url: '/small', headers: { 'accept-encoding': 'gzip' } });
  expect(reply.headers['content-encoding']).toBeUndefined();
  expect(reply.json()).toEqual({ backups: points.slice(0, 3) });
  const refused = await app.inject({ url: '/big', headers: { 'accept-encoding': 'gzip;q=0, identity' } });
  expect(refused.headers['content-encoding']).toBeUndefined();
  expect(refused.payload).toBe(big.text);
  expect(['gzip', 'br, GZIP;q=0.5', '*', 'deflate, *;q=1'].map(acceptsGzip)).toEqual([true, true, true, true]);
  expect(['', 'br', 'gzip;q=0', 'gzip; q=0.0', 'identity'].map(acceptsGzip)).toEqual([
    false,
    false,
    false,
    false,
    false,
  ]);
});
