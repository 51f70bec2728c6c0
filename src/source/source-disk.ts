// One source disk as the node transfer reads it, and what inspecting it taught us before deciding
// anything (resolve-chain and --dry-run inspect the same way).

import type { DiskKey } from '../plan/types.js';
import type { BitmapInfo } from '../qemu/index.js';
import { SendenseError } from '../errors.js';
import { inTurns } from '../hub/in-turns.js';

/** The source of one disk as the node transfer will read it. */
export type DiskSource =
  | { readonly type: 'qemu'; readonly path: string; readonly format: 'qcow2' | 'raw' }
  | { readonly type: 'nbd'; readonly url: string; readonly bitmap?: string }
  | VmwareDiskSource
  | LibvirtDiskSource;

/** A VMware disk: what vSphere said of it (sendense-run's own reader); nothing for the old client. */
export interface VmwareDiskSource {
  readonly type: 'vmware';
  /** "[datastore] dir/name.vmdk" */
  readonly fileName?: string;
  /** The disk's change id now, and whether CBT is on. */
  readonly changeId?: string;
  readonly cbt?: boolean;
}

/** A disk of a libvirt domain: read from the backup job's export (running) or from its image (shut off). */
export interface LibvirtDiskSource {
  readonly type: 'libvirt';
  readonly domain: string;
  readonly target: string;
  /** The image file or block device on the node. */
  readonly path: string;
  readonly format: 'qcow2' | 'raw';
  /** Running (or paused) when inspected: read through a backup job. */
  readonly active: boolean;
  /** uid:gid QEMU runs as (a running domain's DAC label), for the run's scratch directory. */
  readonly runsAs?: { readonly uid: number; readonly gid: number };
  /** The domain's other disks (not backed up): the checkpoint and job name them "no". */
  readonly otherTargets: readonly string[];
}

export type SourceType = DiskSource['type'];

export interface SourceDiskFacts {
  readonly key: DiskKey;
  readonly source: DiskSource;
  readonly virtualSize: number;
  /** Image path on the node (qemu sources). */
  readonly path?: string;
  readonly bitmaps?: readonly BitmapInfo[];
  /** qemu qcow2 sources: false for qcow2 v2 (compat 0.10) images, which have no persistent bitmaps. */
  readonly canStoreBitmaps?: boolean;
  /** nbd sources with a bitmap in the plan: whether the export offers its qemu:dirty-bitmap: context. */
  readonly bitmapOffered?: boolean;
  /** Why the previous backup's change tracking cannot be used on this disk, found while inspecting (libvirt checkpoints). */
  readonly trackingProblem?: string;
}

// A source module is handed only its own disks: anything else is a bug, not a user mistake.
export function diskSourceOf<T extends SourceType>(type: T, source: DiskSource): Extract<DiskSource, { type: T }> {
  if (source.type !== type) throw new Error(`a ${source.type} disk was handed to the ${type} source`);
  return source as Extract<DiskSource, { type: T }>;
}

// A zero-size source (an empty raw file, /dev/null) has nothing to back up and no qcow2 can hold it.
export function refuseEmptyDisk(virtualSize: number, where: string, key: DiskKey): void {
  if (virtualSize > 0) return;
  throw new SendenseError(`${where} is empty (virtual size 0 bytes): nothing to back up; is it the right disk?`, {
    step: 'resolve-chain',
    disk: key,
  });
}

// Sources whose disks the plan lists: each inspected on its own, a few at once (on this host a
// process each: a VM of 100 disks started 100 at once, which only queued for two cores; through
// SSH they go one after another in the run's command session anyway). The first failure is the run's.
export async function inspectListed(
  keys: readonly DiskKey[],
  inspectOne: (key: DiskKey) => Promise<SourceDiskFacts>,
): Promise<{ disks: SourceDiskFacts[]; notes: string[] }> {
  return { disks: await inTurns(keys, INSPECTED_AT_ONCE, inspectOne), notes: [] };
}

const INSPECTED_AT_ONCE = 4;
