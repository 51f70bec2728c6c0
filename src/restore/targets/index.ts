// The destination of a restore of whole disks, by the plan's restore.target.type. A `files` target
// is not one of these: it reads files out of a point on this host, a kind of its own
// (src/kinds/restore-files/).

import type { RestoreTarget } from '../../plan/types.js';
import type { RestoreDiskTarget } from './restore-disk-target.js';
import { domainTarget } from './domain-target.js';
import { fileTarget } from './file-target.js';
import { nbdTarget } from './nbd-target.js';

export function diskTarget(target: RestoreTarget): RestoreDiskTarget {
  if (target.type === 'domain') return domainTarget(target);
  return target.type === 'file' ? fileTarget(target) : nbdTarget(target.url);
}

export type { RestoreDiskTarget, TargetDisk } from './restore-disk-target.js';
export { fillTarget } from './restore-disk-target.js';
