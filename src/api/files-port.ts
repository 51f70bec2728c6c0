// What the files routes need of a browse session over a point (docs/api.md#files-of-a-point):
// implemented by ./files/browse-sessions.ts on the same code `sendense-run files` uses.

import type { Readable, Writable } from 'node:stream';

export interface PointKey {
  readonly vm: string;
  /** A point id or `latest`. */
  readonly point: string;
  readonly disk?: string;
  readonly repository?: string;
}

export interface ApiFiles {
  filesystems(key: PointKey): Promise<unknown>;
  list(key: PointKey, path: string): Promise<unknown>;
  stat(key: PointKey, path: string): Promise<unknown>;
  openFile(
    key: PointKey,
    path: string,
    range?: { readonly start: number; readonly end: number },
  ): Promise<{ readonly size: number; readonly stream: Readable }>;
  zipDirectory(key: PointKey, path: string, out: Writable, signal?: AbortSignal): Promise<void>;
  tarZstDirectory?(key: PointKey, path: string, out: Writable, signal?: AbortSignal): Promise<void>;
  closeAll(): Promise<void>;
}
