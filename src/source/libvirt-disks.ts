// Which disks of a domain a libvirt source backs up, under which keys (docs/how-it-works.md#libvirt-domains):
// the plan's list, or every writable file or block disk, keys 2000, 2001… in target order.

import { SendenseError } from '../errors.js';
import { compareTargets, type DomainDefinition, type DomainDisk } from '../libvirt/domain-xml.js';
import type { DiskKey, LibvirtDisk } from '../plan/types.js';

export const FIRST_DISK_KEY = 2000;

export interface DomainDiskChoice {
  readonly chosen: readonly { readonly key: DiskKey; readonly disk: DomainDisk }[];
  /** "hdc (cdrom)", for the run's log. */
  readonly skipped: readonly string[];
  /** Every other target of the domain: the checkpoint and the job must name them "no". */
  readonly otherTargets: readonly string[];
}

export function chooseDomainDisks(
  definition: DomainDefinition,
  listed: readonly LibvirtDisk[],
  domain: string,
): DomainDiskChoice {
  const all = [...definition.disks].sort((a, b) => compareTargets(a.target, b.target));
  const chosen =
    listed.length === 0
      ? all.filter((disk) => whyNot(disk) === undefined).map((disk, i) => ({ key: FIRST_DISK_KEY + i, disk }))
      : listed.map(({ key, target }) => {
          const disk = all.find((candidate) => candidate.target === target);
          if (disk === undefined) {
            throw new SendenseError(
              `disk target '${target}' (key ${key}) is not a disk of domain ${domain} (its targets: ${all.map((d) => d.target).join(', ') || 'none'})`,
              {
                step: 'resolve-chain',
                disk: key,
              },
            );
          }
          const reason = whyNot(disk);
          if (reason !== undefined)
            throw new SendenseError(
              `disk target '${target}' (key ${key}) of domain ${domain} cannot be backed up: ${reason}`,
              { step: 'resolve-chain', disk: key },
            );
          return { key, disk };
        });
  if (chosen.length === 0)
    throw new SendenseError(`domain ${domain} has no disk to back up (${all.map(describe).join(', ') || 'no disks'})`, {
      step: 'resolve-chain',
    });
  const taken = new Set(chosen.map((entry) => entry.disk.target));
  const others = all.filter((disk) => !taken.has(disk.target));
  return { chosen, skipped: others.map(describe), otherTargets: others.map((disk) => disk.target) };
}

// Why a disk is not backed up: only writable disks with an image or a block device of their own.
function whyNot(disk: DomainDisk): string | undefined {
  if (disk.device !== 'disk' && disk.device !== 'lun') return `a ${disk.device}`;
  if (disk.readOnly) return 'read-only';
  if (disk.shareable) return 'shareable (several domains write it)';
  if (disk.type !== 'file' && disk.type !== 'block') return `a ${disk.type} disk (only file and block disks)`;
  if (disk.path === undefined) return 'no source';
  return undefined;
}

function describe(disk: DomainDisk): string {
  return `${disk.target} (${whyNot(disk) ?? 'not listed in the plan'})`;
}
