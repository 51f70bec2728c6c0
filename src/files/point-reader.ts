// What the files command reads a point through (src/cli/files-command.ts): the point opened in this
// process, or a files session that holds it open (./session/session-client.ts), which runs these
// same calls on its own open point. One seam, so both print the same text and --json.

import { extractPaths, guestfsSource, type ExtractOptions, type ExtractResult } from './extract.js';
import type { ExtractTarget } from './extract-target.js';
import type { DiskLayout } from './filesystems.js';
import type { GuestEntry } from './guest-files.js';
import type { GuestPath } from './guest-path.js';
import type { OpenPoint } from './open-point.js';

export interface PointReader {
  /** "VM pgtest1, backup 2026…, disk 2000", for what is printed. */
  readonly where: string;
  layout(): Promise<DiskLayout>;
  /** A directory's entries sorted by name; a path that is not a directory lists as itself. */
  list(where: GuestPath): Promise<readonly GuestEntry[]>;
  extract(wanted: readonly GuestPath[], target: ExtractTarget, options: ExtractOptions): Promise<ExtractResult>;
}

export function pointReaderOf(opened: Pick<OpenPoint, 'files' | 'point'>): PointReader {
  return {
    where: opened.point.where,
    layout: async () => opened.files.layout,
    list: (where) => opened.files.list(where),
    extract: (wanted, target, options) => extractPaths(guestfsSource(opened.files), wanted, target, options),
  };
}
