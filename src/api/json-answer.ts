// How an answer already serialized (src/api/route.ts's JsonText) is sent: as bytes made once, and
// gzipped for a client that asks (docs/api.md#backups).

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JsonText } from './route.js';

// Big answers gzipped for a client that asks (every browser does): one VM's 10,000 points are
// 8 MB of JSON and about 0.6 MB gzipped, made once per kept listing.
export const GZIP_FROM = 64 * 1024;

export function sendJsonText(request: FastifyRequest, reply: FastifyReply, answer: JsonText): FastifyReply {
  void reply.type('application/json; charset=utf-8').header('vary', 'accept-encoding');
  if (answer.bytes.length >= GZIP_FROM && acceptsGzip(String(request.headers['accept-encoding'] ?? '')))
    return reply.header('content-encoding', 'gzip').send(answer.gzipped);
  return reply.send(answer.bytes);
}

// Accept-Encoding names gzip (or *) with a q above 0.
export function acceptsGzip(header: string): boolean {
  return header.split(',').some((part) => {
    const [name, ...params] = part.split(';').map((text) => text.trim().toLowerCase());
    const q = params.find((param) => param.startsWith('q='));
    return (name === 'gzip' || name === '*') && (q === undefined || Number(q.slice(2)) > 0);
  });
}
