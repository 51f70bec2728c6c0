// Where a restore of whole disks writes (docs/how-it-works.md#a-restore): one implementation per
// destination behind this interface, so the restore's steps never ask which it is. A new
// destination (a libvirt domain's disks, an object store) is one file here and a line in index.ts.

import type { RunContext } from '../../engine/run-context.js';
import type { Prediction } from '../../engine/step.js';
import type { DiskKey, DiskRestorePlan } from '../../plan/types.js';
import type { TransferTarget } from '../../wire/index.js';

/** What a target knows of one restored disk; the restore's disk job extends it. */
export interface TargetDisk {
  readonly key: DiskKey;
  readonly virtualSize: number;
  /** Where the node transfer writes the disk (prepare): an NBD server, or a file of a format. */
  target?: TransferTarget;
  /** Where the restore writes on the node when that is not the final place (file targets). */
  targetPath?: string;
  /** The target as the plan names it (file targets). */
  finalPath?: string;
}

export interface TargetRun extends RunContext<DiskRestorePlan> {
  /** backupId: the point restored ('' while a dry run found none). */
  readonly state: { readonly backupId: string; readonly disks: readonly TargetDisk[] };
}

/** What qemu-img convert (a restore on this host) or qemu-img compare (verify) opens. */
export interface TargetImage {
  readonly image: string;
  readonly format: 'qcow2' | 'raw';
}

export interface RestoreDiskTarget {
  /** prepare-target's title. */
  preparing(run: TargetRun): string;
  /** Checks every disk's target before touching any, then makes each ready (sets `target`). */
  prepare(run: TargetRun): Promise<string>;
  /** What prepare would do (--dry-run), from the same checks where the node is this host. */
  wouldPrepare(run: TargetRun): Promise<string | Prediction> | string | Prediction;
  /** Before anything is taken: a restore never writes inside a repository. */
  refuseInRepositories(run: TargetRun, refuse: (file: string, what: string) => Promise<void>): Promise<void>;
  /** The target may hold old data: holes of the backup are written as zeroes. */
  readonly zeroHoles: boolean;
  /**
   * What a copy on this host writes into, whether it reads as zeroes before, and whether it can be
   * written past the page cache (O_DIRECT: its filesystem allows it).
   */
  convertInto(disk: TargetDisk): TargetImage & { readonly isZero: boolean; readonly takesDirectIo: boolean };
  /** What verify compares with the backup chain, and how the user knows it. */
  restored(disk: TargetDisk): TargetImage & { readonly shown: string };
  /** Why place-target has nothing to do (written in place), if so. */
  readonly inPlace?: string;
  /** Puts the verified targets in their final place. */
  place(run: TargetRun): Promise<string>;
  readonly wouldPlace: string;
}

// "{key}" in a target's path or URL is each disk's key.
export function fillTarget(template: string, disk: Pick<TargetDisk, 'key'>): string {
  return template.replaceAll('{key}', String(disk.key));
}
