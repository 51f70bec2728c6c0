// An ad-hoc restore (docs/commands.md#restore, docs/api.md#backups): a point written back out
// without a plan file. The typed inputs become a restore plan in memory, checked as a plan file
// is and run by the same engine (src/kinds/restore), so a plan and an ad-hoc restore cannot differ.

import path from 'node:path';
import { planFromData } from '../plan/plan-from-data.js';
import type { DiskKey, Plan } from '../plan/types.js';
import type { KeySource } from '../repository/user-key.js';

export type ImageFormat = 'qcow2' | 'raw';

/**
 * file: one image (PATH with {key} when several disks); dir: one image per disk in DIR; nbd: NBD
 * exports; domain: one qcow2 image per disk in DIR (path), named DOMAIN-KEY.qcow2, and a new libvirt domain on them.
 */
export type AdhocTarget =
  | { readonly kind: 'file'; readonly path: string; readonly format: ImageFormat }
  | { readonly kind: 'dir'; readonly path: string; readonly format: ImageFormat }
  | { readonly kind: 'nbd'; readonly url: string }
  | {
      readonly kind: 'domain';
      readonly domain: string;
      readonly path: string;
      readonly start: boolean;
      readonly network: 'none' | 'keep';
    };

export interface AdhocRestore {
  readonly vm: string;
  /** latest, a backup id, or an ISO-8601 time (restore.point). */
  readonly point: string;
  readonly repository: string;
  /** Undefined: every disk of the point. */
  readonly disks?: readonly DiskKey[];
  readonly target: AdhocTarget;
  readonly overwrite: boolean;
  readonly verify: boolean;
  /** The key of an encrypted repository (--key-file, --key-env): its repository.encryption. */
  readonly key?: KeySource;
}

// What stands for the plan's file in history and messages.
export const ADHOC_ORIGIN = '(ad-hoc restore)';

export function adhocRestorePlan(restore: AdhocRestore): Plan {
  return planFromData(adhocRestoreData(restore), ADHOC_ORIGIN);
}

/** The restore plan's data, as a plan file would hold it. */
export function adhocRestoreData(restore: AdhocRestore): Record<string, unknown> {
  return {
    version: 1,
    kind: 'restore',
    name: adhocPlanName(restore.vm),
    description: `ad-hoc restore of VM ${restore.vm}`,
    vm: { name: restore.vm },
    repository: { path: restore.repository, ...(restore.key === undefined ? {} : { encryption: { ...restore.key } }) },
    restore: {
      point: restore.point,
      ...(restore.disks === undefined ? {} : { disks: [...restore.disks] }),
      target: planTarget(restore),
      verify: restore.verify,
    },
  };
}

// History lists it under restore-VM (a plan name is lowercase letters, digits and '-').
export function adhocPlanName(vm: string): string {
  const slug = vm
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `restore-${slug || 'vm'}`.slice(0, 100).replace(/-+$/, '');
}

/** The image path of each disk ({key} filled in by the restore itself). */
export function targetPathPattern(restore: AdhocRestore): string | undefined {
  const { target } = restore;
  if (target.kind === 'nbd') return undefined;
  if (target.kind === 'file') return target.path;
  if (target.kind === 'domain') return path.join(target.path, `${target.domain}-{key}.qcow2`);
  const vm = restore.vm.replace(/[^A-Za-z0-9._-]+/g, '_');
  return path.join(target.path, `${vm}-{key}.${target.format}`);
}

function planTarget(restore: AdhocRestore): Record<string, unknown> {
  const { target } = restore;
  if (target.kind === 'nbd') return { type: 'nbd', url: target.url };
  if (target.kind === 'domain')
    return {
      type: 'domain',
      domain: target.domain,
      path: targetPathPattern(restore),
      start: target.start,
      network: target.network,
    };
  return { type: 'file', path: targetPathPattern(restore), format: target.format, overwrite: restore.overwrite };
}
