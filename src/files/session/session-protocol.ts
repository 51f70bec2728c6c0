// What a files session and the files command say to each other over the session's socket
// (docs/file-level-restore.md#files-sessions): one request per connection as a JSON line, then
// lines back — notes (what the command prints on stderr) and one last line, the answer or the
// error. A guest's names travel as their bytes (Buffer's JSON form). The command's half-close
// while a call runs means it was interrupted: the session stops the appliance (and ends).

import type { ExtractResult } from '../extract.js';
import type { ExtractTarget } from '../extract-target.js';
import type { DiskLayout } from '../filesystems.js';
import type { GuestEntry } from '../guest-files.js';
import type { GuestPath } from '../guest-path.js';

export type SessionRequest =
  | { readonly op: 'layout' }
  | { readonly op: 'list'; readonly where: GuestPath }
  | {
      readonly op: 'extract';
      readonly wanted: readonly GuestPath[];
      readonly target: ExtractTarget;
      readonly overwrite: boolean;
      readonly keepSetuid: boolean;
      /** The command's umask, for the files it makes. */
      readonly umask: number;
    }
  | { readonly op: 'info' };

/** What `files --sessions` shows of a running session. */
export interface SessionInfo {
  readonly pid: number;
  /** The libguestfs agent's PID (its appliance is its child); undefined while none is open. */
  readonly appliancePid?: number;
  /** Appliances this session started: 1 for as long as it lives (a dead appliance ends it). */
  readonly appliancesStarted: number;
  /** Calls it answered. */
  readonly calls: number;
  readonly idleSeconds: number;
}

export interface SessionAnswers {
  readonly layout: DiskLayout;
  readonly list: readonly GuestEntry[];
  readonly extract: ExtractResult;
  readonly info: SessionInfo;
}

export type SessionLine =
  | { readonly note: string }
  | { readonly ok: unknown }
  | {
      readonly error: {
        readonly message: string;
        readonly exitCode: 1 | 2 | 130;
        /** A bug in the session (its stack in message). */
        readonly bug?: boolean;
        /** The session was ending: a new one answers. */
        readonly retry?: boolean;
      };
    };

export function encodeLine(line: SessionLine | SessionRequest): string {
  return `${JSON.stringify(line)}\n`;
}

// Buffers (a name that is not UTF-8) come back as Buffers.
export function decodeLine<T>(text: string): T {
  return JSON.parse(text, (_key, value: unknown) =>
    value !== null &&
    typeof value === 'object' &&
    (value as { type?: unknown }).type === 'Buffer' &&
    Array.isArray((value as { data?: unknown }).data)
      ? Buffer.from((value as { data: number[] }).data)
      : value,
  ) as T;
}
