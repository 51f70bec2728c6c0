// Files of a point (docs/api.md#files-of-a-point): browse its filesystems, download a file (with
// HTTP ranges) or a folder as a streaming ZIP (ZIP64) or tar.zst. Guest data: the restore role.
// The browse session stays warm between calls (./files/browse-sessions.ts).

import { Type } from '@sinclair/typebox';
import { ApiError } from '../api-error.js';
import type { ApplianceStarting, PointKey } from '../files-port.js';
import { REPLIED, type RouteCall, type RouteDef } from '../route.js';
import { pointById, wantsWait } from './route-helpers.js';

const Id = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
const PathQuery = Type.Object({
  path: Type.Optional(
    Type.String({ maxLength: 8192, description: 'NAME:/PATH as `files` takes it (NAME: a filesystem of the listing)' }),
  ),
  disk: Type.Optional(Type.String({ maxLength: 64 })),
});

const ListQuery = Type.Object({
  ...PathQuery.properties,
  wait: Type.Optional(
    Type.Boolean({
      description: "hold the request until the point's appliance is up (200) instead of answering 202 while it starts",
    }),
  ),
});

// What a listing answers while the point's appliance starts (202, Retry-After).
const Starting = Type.Object({
  status: Type.Literal('starting'),
  reader: Type.Literal('appliance'),
  startedSeconds: Type.Integer({ minimum: 0, description: 'seconds since the appliance began starting' }),
});

/** Seconds a client is told to wait before asking again while the appliance starts. */
export const STARTING_RETRY_SECONDS = 3;

export async function pointKey(call: RouteCall, id: string): Promise<PointKey> {
  const point = await pointById(call, id);
  const disk = call.query.disk as string | undefined;
  // The record names what was read, not only the point.
  const path = call.query.path;
  call.target(
    `point ${point.id} of VM ${point.vm}${disk ? `, disk ${disk}` : ''}${typeof path === 'string' && path !== '' ? `, path ${path}` : ''}`,
  );
  return { vm: point.vm, point: point.id, repository: point.repository, ...(disk ? { disk } : {}) };
}

export function requiredPath(call: RouteCall): string {
  const path = call.query.path;
  if (typeof path !== 'string' || path === '')
    throw new ApiError(
      'bad-request',
      'path is needed: NAME:/PATH (see the listing without a path for the names)',
      'path',
    );
  return path;
}

/** bytes=A-B, bytes=A- or bytes=-N of a file of `size` bytes; undefined: the whole file; 416 when unsatisfiable. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined | 'unsatisfiable' {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start > end || start >= size) return 'unsatisfiable';
  return { start, end };
}

export async function sendFile(call: RouteCall, key: PointKey, path: string): Promise<typeof REPLIED> {
  call.startDownload();
  const files = call.api.files;
  const whole = await files.stat(key, path);
  const size = Number((whole as { size?: number }).size ?? 0);
  const range = parseRange(call.request.headers.range, size);
  if (range === 'unsatisfiable') {
    call.reply.code(416).header('content-range', `bytes */${size}`);
    throw new ApiError(
      'bad-request',
      `the range ${call.request.headers.range} is outside the file's ${size} bytes`,
      'range',
    );
  }
  const opened = await files.openFile(key, path, range);
  const name = path.split('/').at(-1) || 'file';
  call.reply
    .header('accept-ranges', 'bytes')
    .header('content-disposition', attachment(name))
    .type('application/octet-stream');
  if (range)
    call.reply
      .code(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
      .header('content-length', String(range.end - range.start + 1));
  else call.reply.header('content-length', String(opened.size));
  await call.reply.send(opened.stream);
  return REPLIED;
}

export async function sendArchive(
  call: RouteCall,
  key: PointKey,
  path: string,
  format: 'zip' | 'tar.zst',
): Promise<typeof REPLIED> {
  call.startDownload();
  const files = call.api.files;
  // A path that is not there answers 404 before the archive starts.
  await files.stat(key, path);
  const name = `${path.split('/').filter(Boolean).at(-1)?.replace(/^.*:/, '') || 'root'}.${format}`;
  const raw = call.reply.raw;
  call.reply.hijack();
  raw.writeHead(200, {
    'content-type': format === 'zip' ? 'application/zip' : 'application/zstd',
    'content-disposition': attachment(name),
    'cache-control': 'no-store',
  });
  const controller = new AbortController();
  raw.on('close', () => controller.abort());
  try {
    if (format === 'zip') await files.zipDirectory(key, path, raw, controller.signal);
    else if (files.tarZstDirectory) await files.tarZstDirectory(key, path, raw, controller.signal);
  } catch (error) {
    // Headers are gone: the cut-short archive is the only signal a client gets.
    raw.destroy(error as Error);
    return REPLIED;
  }
  if (!raw.writableEnded) raw.end();
  return REPLIED;
}

function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

export const fileRoutes: readonly RouteDef[] = [
  {
    method: 'GET',
    url: '/api/v1/backups/:id/files',
    role: 'restore',
    tag: 'files',
    summary:
      "A point's filesystems (no path), or a directory's entries (?path=NAME:/DIR), as `files --json` prints them; a directory says which `reader` listed it: `debugfs` (the fast path, an ext2/3/4 filesystem), `ntfs-3g` (the fast path, NTFS), `fat-walker` (the fast path, FAT; any of the three when no browse session of the point is open) or `appliance`. When the appliance must start, 202 with Retry-After and {status: starting, reader: appliance, startedSeconds} until it is up (?wait=true: 200 once it is)",
    action: 'files-list',
    params: Id,
    querystring: ListQuery,
    response: Type.Union([Type.Object({}, { additionalProperties: true }), Starting]),
    async handle(call) {
      const key = await pointKey(call, call.params.id);
      const path = call.query.path as string | undefined;
      const options = { wait: wantsWait(call) };
      const answer = path
        ? await call.api.files.list(key, path, options)
        : await call.api.files.filesystems(key, options);
      if ((answer as Partial<ApplianceStarting>).status === 'starting')
        call.reply.code(202).header('retry-after', String(STARTING_RETRY_SECONDS));
      return answer;
    },
  },
  {
    method: 'GET',
    url: '/api/v1/backups/:id/files/download',
    role: 'restore',
    tag: 'files',
    summary: 'One file of a point (?path=NAME:/FILE), with HTTP ranges (Range: bytes=A-B answers 206)',
    action: 'files-download',
    params: Id,
    querystring: PathQuery,
    produces: 'application/octet-stream',
    async handle(call) {
      return sendFile(call, await pointKey(call, call.params.id), requiredPath(call));
    },
  },
  {
    method: 'GET',
    url: '/api/v1/backups/:id/files/archive',
    role: 'restore',
    tag: 'files',
    summary:
      'A folder of a point (?path=NAME:/DIR) as a streaming ZIP (ZIP64; format=zip, the default) or tar.zst, memory flat whatever its size',
    action: 'files-archive',
    params: Id,
    querystring: Type.Object({
      path: Type.Optional(Type.String({ maxLength: 8192 })),
      disk: Type.Optional(Type.String({ maxLength: 64 })),
      format: Type.Optional(Type.Union([Type.Literal('zip'), Type.Literal('tar.zst')])),
    }),
    produces: 'application/zip',
    async handle(call) {
      const format = (call.query.format as 'zip' | 'tar.zst' | undefined) ?? 'zip';
      if (format === 'tar.zst' && call.api.files.tarZstDirectory === undefined)
        throw new ApiError(
          'bad-request',
          'tar.zst is not available on this hub (zstd is not installed): ask for format=zip',
          'format',
        );
      return sendArchive(call, await pointKey(call, call.params.id), requiredPath(call), format);
    },
  },
];
