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

/** The point's appliance is still starting: 202 with Retry-After (docs/api.md#files-of-a-point). */
export interface ApplianceStarting {
  readonly status: 'starting';
  readonly reader: 'appliance';
  /** Whole seconds since it began starting. */
  readonly startedSeconds: number;
}

/** wait: hold the request until the appliance is up; else it is started and ApplianceStarting answered. */
export interface ListOptions {
  readonly wait?: boolean;
}

export interface ApiFiles {
  filesystems(key: PointKey, options?: ListOptions): Promise<unknown>;
  list(key: PointKey, path: string, options?: ListOptions): Promise<unknown>;
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
