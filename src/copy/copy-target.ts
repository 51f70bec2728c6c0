// Where a copy is written (docs/copies.md): the few file operations a copy needs of the other
// side, behind one small interface so another kind of target (an object store) slots in beside
// the SSH one. Paths are relative to the copy's root, '/'-separated; the copy's logic
// (place-file.ts, copy-point.ts) is the same whatever the target.

import type { OutgoingBytes } from './outgoing-bytes.js';

/** What is at the copy's root before anything is written. */
export type TargetRoot =
  | { readonly state: 'missing'; readonly inside?: string }
  | { readonly state: 'not-a-directory' }
  | {
      readonly state: 'directory';
      /** Its entries by name (not recursive). */
      readonly entries: readonly string[];
      /** Its repository marker's text, when it has one. */
      readonly marker?: string;
      /** A repository the path lies inside (a marker in a directory above it), if any. */
      readonly inside?: string;
    };

export interface CopyTarget {
  /** For messages: "sendense@offsite1:22:/backup/offsite". */
  readonly description: string;
  /** The host as the state database records what a run left there (NodeHost.id). */
  readonly node: string;
  /** The path there of a relative path, as a record names it for doctor. */
  absolute(relative: string): string;
  inspect(): Promise<TargetRoot>;
  /** The files one and two levels below `dir` (`disk-2000/B1.qcow2`), with their sizes; none when it does not exist. */
  list(dir: string): Promise<ReadonlyMap<string, number>>;
  /** A small file's text (a manifest, the keyring); undefined when there is none. */
  read(relative: string): Promise<string | undefined>;
  /**
   * Puts a file in place: its bytes are written to `<relative>.partial` (0600, its directories
   * 0700, made as needed), made durable and read back there; only when what is there has the
   * sha256 of the bytes sent is it renamed to its real name, durably. On failure the partial file
   * is removed there when the target still can.
   */
  put(relative: string, bytes: OutgoingBytes, signal?: AbortSignal): Promise<void>;
  /** Whether the file there holds exactly the bytes of `file` on the hub (false when there is none). */
  sameAs(relative: string, file: string): Promise<boolean>;
  /** Removes files; one that is not there is no error. */
  remove(relatives: readonly string[]): Promise<void>;
}
