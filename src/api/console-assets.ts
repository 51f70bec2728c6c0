// The web console's files (docs/console.md#how-it-is-served), served by the API server at `/`:
// read once from dist/console (the build's output), each with its content type, a strict
// Content-Security-Policy (this origin only, no inline script, no framing) and cache headers
// (hashed assets forever, index.html revalidated). Any other GET outside /api/ is a client route:
// index.html. Without a built console, `/` says how to build it.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
  /** Vite names what it builds by content hash (assets/index-B54rZHhF.js): cached for good. */
  readonly immutable: boolean;
}

/** Every file under dir by its URL path (/index.html, /assets/…). */
export function readConsoleAssets(dir: string): ReadonlyMap<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(dir)) return assets;
  for (const relative of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const file = path.join(dir, relative);
    const type = TYPES[path.extname(file)];
    if (type === undefined) continue;
    const body = readFileSync(file);
    const url = `/${relative.split(path.sep).join('/')}`;
    assets.set(url, {
      body,
      type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      immutable: url.startsWith('/assets/'),
    });
  }
  return assets;
}

/** The `extend` of buildApiServer: the console's routes beside the API's. */
export function consoleRoutes(dir: string): (app: FastifyInstance) => void {
  const assets = readConsoleAssets(dir);
  return (app) => {
    const send = (request: FastifyRequest, reply: FastifyReply, asset: Asset) => {
      void reply
        .headers(CONSOLE_HEADERS)
        .header('etag', asset.etag)
        .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
        .type(asset.type);
      if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
      return reply.send(asset.body);
    };
    const index = assets.get('/index.html');
    app.get('/', (request, reply) => (index ? send(request, reply, index) : notBuilt(reply)));
    app.get('/*', (request, reply) => {
      const url = request.url.split('?')[0];
      if (url === '/api' || url.startsWith('/api/')) return reply.callNotFound();
      const asset = assets.get(url);
      if (asset) return send(request, reply, asset);
      // A file that is not there (a stale hashed asset) is a 404, not the page.
      if (url.startsWith('/assets/') || path.extname(url) !== '')
        return reply.headers(CONSOLE_HEADERS).code(404).type('text/plain; charset=utf-8').send('not found\n');
      return index ? send(request, reply, index) : notBuilt(reply);
    });
  };
}

function notBuilt(reply: FastifyReply): FastifyReply {
  return reply
    .headers(CONSOLE_HEADERS)
    .code(404)
    .type('text/plain; charset=utf-8')
    .send('the web console is not built here: run `npm run build` (docs/console.md)\n');
}
