// A guest path given in a request (a URL's path or query, already percent-decoded) read as the
// CLI's NAME:/PATH, refusing anything that could name something outside the point's filesystem
// tree: '..', NUL, a relative path, an over-long path or name, a filesystem the disk does not have.
// The path is only ever handed to the appliance (src/files/guest-files.ts), never to the host's filesystem.

import path from 'node:path';
import type { DiskLayout } from '../../files/filesystems.js';
import { readable } from '../../files/filesystems.js';
import type { GuestPath } from '../../files/guest-path.js';
import { FilesRequestError } from './files-request-error.js';

/** PATH_MAX and NAME_MAX of Linux, in bytes. */
export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;

export function parseRequestPath(text: string): GuestPath {
  const refuse = (why: string) =>
    new FilesRequestError('bad-request', `path ${JSON.stringify(text.slice(0, 200))}: ${why}`);
  if (text.includes('\0')) throw refuse('holds a NUL byte');
  if (Buffer.byteLength(text, 'utf8') > MAX_PATH_BYTES + MAX_NAME_BYTES)
    throw refuse(`longer than ${MAX_PATH_BYTES} bytes`);
  const colon = text.indexOf(':');
  if (colon <= 0) throw refuse('not NAME:/PATH (e.g. p1:/etc; the filesystems listing gives the names)');
  const fs = text.slice(0, colon);
  const inside = text.slice(colon + 1) || '/';
  // Checked against the disk's own names later (requireFilesystem); a btrfs subvolume's may hold spaces.
  if ([...fs].some((char) => char < ' ' || char === '\x7f'))
    throw refuse('the filesystem name holds a control character');
  if (!inside.startsWith('/')) throw refuse(`the path after '${fs}:' must be absolute, e.g. ${fs}:/${inside}`);
  if (Buffer.byteLength(inside, 'utf8') > MAX_PATH_BYTES) throw refuse(`longer than ${MAX_PATH_BYTES} bytes`);
  const parts = inside.split('/');
  // Refused rather than resolved: a request that climbs is a mistake or an attack, either way not served.
  if (parts.includes('..')) throw refuse("has a '..' component");
  const long = parts.find((part) => Buffer.byteLength(part, 'utf8') > MAX_NAME_BYTES);
  if (long !== undefined) throw refuse(`a name is longer than ${MAX_NAME_BYTES} bytes`);
  return { fs, path: path.posix.normalize(inside).replace(/(.)\/$/, '$1') };
}

// The name must be one of the disk's readable filesystems (as the listing shows them).
export function requireFilesystem(where: GuestPath, layout: DiskLayout): void {
  const fs = layout.filesystems.find((candidate) => candidate.name === where.fs);
  if (fs !== undefined && readable(fs)) return;
  const names = layout.filesystems.filter(readable).map((candidate) => candidate.name);
  const why =
    fs === undefined
      ? 'no such filesystem on this disk'
      : `${fs.type === 'unknown' ? 'not a filesystem that can be read' : `${fs.type}, not a filesystem`}`;
  throw new FilesRequestError(
    'bad-request',
    `'${where.fs}': ${why} (${names.length ? `it has ${names.join(', ')}` : 'it has none that can be read'})`,
  );
}
