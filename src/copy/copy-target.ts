// Where a copy is written (docs/copies.md): the few file operations a copy needs of the other
// side, behind one interface, one module a target under src/copy/targets/ (a directory on a host
// over SSH, a directory on this host, a bucket). Paths are relative to the copy's root,
// '/'-separated; the copy's logic (place-file.ts, copy-point.ts, copy-retention.ts) is the same
// whatever the target. What only some targets can do is a capability, asked for by name.

import type { NodeHost } from '../node/node.js';
import type { NodeSpec, ObjectLock, S3CopyTo } from '../plan/types.js';
import type { OutgoingBytes } from './outgoing-bytes.js';

/** What is at the copy's root before anything is written. */
export type TargetRoot =
  | { readonly state: 'missing'; readonly inside?: string }
  | { readonly state: 'not-a-directory' }
  | {
      readonly state: 'directory';
      /** Its entries by name (not recursive); a file being put shows as `<name>.partial`. */
      readonly entries: readonly string[];
      /** Its repository marker's text, when it has one. */
      readonly marker?: string;
      /** A repository the path lies inside (a marker in a directory above it), if any. */
      readonly inside?: string;
    };

export interface CopyTarget {
  /** For messages: "sendense@offsite1:22:/backup/offsite". */
  readonly description: string;
  /** The host as the state database records what a run left there (NodeHost.id, or the bucket's id). */
  readonly node: string;
  /** What doctor needs to reach it again, recorded with what a run leaves there (never a key). */
  readonly facts: CopyTargetFacts;
  /** The path there of a relative path, as a record names it for doctor. */
  absolute(relative: string): string;
  inspect(): Promise<TargetRoot>;
  /** The files one and two levels below `dir` (`disk-2000/B1.qcow2`), with their sizes; none when it does not exist. A file not yet in place is never listed under its real name. */
  list(dir: string): Promise<ReadonlyMap<string, number>>;
  /** A small file's text (a manifest, the keyring); undefined when there is none. */
  read(relative: string): Promise<string | undefined>;
  /**
   * Puts a file in place, atomically: its bytes go to `<relative>.partial` (a partial file, or an
   * upload not yet complete), are made durable and checked there against the sha256 (or the
   * ETag) of the bytes sent; only then does the file have its real name. On failure the partial
   * file is removed there when the target still can.
   */
  put(relative: string, bytes: OutgoingBytes, signal?: AbortSignal): Promise<void>;
  /** Whether the file there holds exactly the bytes of `file` on the hub (false when there is none). */
  sameAs(relative: string, file: string): Promise<boolean>;
  /** Removes files (`<name>.partial`: what a put left of it); one that is not there is no error. */
  remove(relatives: readonly string[]): Promise<void>;
  /** doctor: removes what a dead run left under a name absolute() gave it; one not there is no error. */
  removeLeft(recorded: string): Promise<void>;
  /** What only some targets do, by name; undefined where this one cannot. */
  capability<K extends keyof CopyCapabilities>(name: K): CopyCapabilities[K] | undefined;
}

/** What a target records with what a run leaves there (docs/copies.md#crash-safety), so doctor reaches it again; never a key. */
export interface CopyTargetFacts {
  /** copy.to.type; records of older runs have none (ssh, or s3 when `s3` is there). */
  readonly target?: 'ssh' | 's3' | 'dir';
  /** ssh: the host as the plan gives it. */
  readonly nodeSpec?: NodeSpec;
  /** ssh, dir: the copy's absolute path there. */
  readonly root?: string;
  /** s3: the bucket as the plan gives it (the names of the keys' variables, never the keys). */
  readonly s3?: S3CopyTo;
}

/** What only some copy targets can do (docs/copies.md#retention). */
export interface CopyCapabilities {
  /** The copy's files are plain files on a host with a shell: its merges run there, by its qemu-img. */
  readonly host: CopyHost;
  /** The copy's file, its bytes checked as they come, into a file on the hub: its merges are worked out on the hub. */
  readonly download: (relative: string, file: string, signal?: AbortSignal) => Promise<void>;
  /** Gives back the space of what no point under `dir` reads any more (docs/copies.md#retention-in-a-bucket). */
  readonly reclaim: (dir: string) => Promise<Reclaimed>;
  /** Every file is locked as it is written; the locks of kept points can be made longer (docs/copies.md#object-lock). */
  readonly locks: ObjectLocks;
}

export interface CopyHost {
  readonly node: NodeHost;
  /** The copy's absolute path there. */
  readonly root: string;
}

export interface Reclaimed {
  readonly deleted: number;
  readonly deletedBytes: number;
  /** Versions no point needs any more, kept until their lock ends. */
  readonly held: number;
  readonly heldBytes: number;
  /** When the first of those can go. */
  readonly heldUntil?: Date;
}

export interface ObjectLocks {
  /** The plan's copy.to.objectLock. */
  readonly lock: ObjectLock;
  /** Extends the lock of the file's current version to `until` when it ends before; whether it did. */
  extendLock(relative: string, mode: ObjectLock['mode'], until: Date, slackMs: number): Promise<boolean>;
}

// A target's capability(): looks its name up in what it can do.
export function capabilities(can: Partial<CopyCapabilities>): CopyTarget['capability'] {
  return (name) => can[name];
}
