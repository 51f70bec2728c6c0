// Where a copy is written (docs/copies.md): the few file operations a copy needs of the other
// side, behind one small interface so another kind of target (an object store) slots in beside
// the SSH one. Paths are relative to the copy's root, '/'-separated; the copy's logic
// (place-file.ts, copy-point.ts) is the same whatever the target.

/** What is at the copy's root before anything is written. */
export type TargetRoot =
  | { readonly state: 'missing' }
  | { readonly state: 'not-a-directory' }
  /** Its entries by name (not recursive). */
  | { readonly state: 'directory'; readonly entries: readonly string[] };

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
  /** A small file's text (a manifest, the marker, the keyring); undefined when there is none. */
  read(relative: string): Promise<string | undefined>;
  /** Directories and their parents, private (0700). */
  makeDirs(relatives: readonly string[]): Promise<void>;
  /**
   * Writes `bytes` to the file (0600, replacing one there), makes it durable, and returns the
   * sha256 (hex) of what is there now, read back on the target's side.
   */
  write(relative: string, bytes: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<string>;
  /** The sha256 (hex) of a file there. */
  hash(relative: string): Promise<string>;
  /** Renames a file over another, atomically, and makes the rename durable. */
  rename(from: string, to: string): Promise<void>;
  /** Removes files; one that is not there is no error. */
  remove(relatives: readonly string[]): Promise<void>;
}
