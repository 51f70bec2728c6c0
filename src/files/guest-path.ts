// NAME:/PATH — a filesystem's short name (p1, vg0/root, disk) and an absolute path inside it.

import path from 'node:path';
import { usageError } from '../errors.js';

export interface GuestPath {
  readonly fs: string;
  /** Absolute and normalised ('/' for the filesystem's root). */
  readonly path: string;
}

export function parseGuestPath(text: string): GuestPath {
  const colon = text.indexOf(':');
  if (colon <= 0) throw usageError(`'${text}' is not NAME:/PATH (e.g. p1:/etc; sendense-run files VM lists the names)`);
  const fs = text.slice(0, colon);
  const inside = text.slice(colon + 1) || '/';
  if (!inside.startsWith('/'))
    throw usageError(`'${text}': the path after '${fs}:' must be absolute, e.g. ${fs}:/${inside}`);
  return { fs, path: path.posix.normalize(inside).replace(/(.)\/$/, '$1') };
}

export function formatGuestPath(guestPath: GuestPath): string {
  return `${guestPath.fs}:${guestPath.path}`;
}

// The name an extracted path gets in the target, as tar keeps it: its path below the filesystem's
// root (p1:/home/alice/report.txt -> home/alice/report.txt), or the filesystem's name for '/'.
export function extractedName(guestPath: GuestPath): string {
  return guestPath.path === '/' ? guestPath.fs.replace(/[/@]/g, '-') : guestPath.path.slice(1);
}
