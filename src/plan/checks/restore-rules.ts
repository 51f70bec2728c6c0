// restore.point is latest, a backup id or an ISO-8601 time; a target names each disk's own
// file or export with {key} whenever more than one disk may be restored.

import path from 'node:path';
import { hasEnvRef } from '../env-refs.js';
import { expandHome } from '../home-path.js';
import { listAt, stringAt, valueAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';
import { parseRestorePoint } from '../restore-point.js';

export function checkRestoreRules(context: CheckContext): void {
  const { data, issues } = context;
  if (stringAt(data, 'kind') !== 'restore') return; // elsewhere the block itself is the mistake
  const point = stringAt(data, 'restore', 'point');
  if (point !== undefined && point !== '') {
    const parsed = parseRestorePoint(point);
    if (typeof parsed === 'string') issues.error(['restore', 'point'], `restore.point: ${parsed}`);
  }
  const type = stringAt(data, 'restore', 'target', 'type');
  if (type === 'files') return checkFilesTarget(context);
  const field = type === 'file' ? 'path' : type === 'nbd' ? 'url' : undefined;
  if (field === undefined) return;
  const target = stringAt(data, 'restore', 'target', field);
  const repository = stringAt(data, 'repository', 'path');
  if (field === 'path' && target !== undefined && repository !== undefined && !hasEnvRef(target) && !hasEnvRef(repository) && isInside(target, repository)) {
    issues.error(['restore', 'target', 'path'], `restore.target.path: ${target} is inside the repository ${repository}; a restore never writes into a repository`);
  }
  const disks = valueAt(data, 'restore', 'disks');
  const single = Array.isArray(disks) && listAt(data, 'restore', 'disks').length === 1;
  if (target !== undefined && !target.includes('{key}') && !single && !hasEnvRef(target)) {
    const why = Array.isArray(disks) ? `restore.disks lists ${disks.length} disks` : 'restore.disks is not given, so every disk of the backup is restored';
    issues.error(['restore', 'target', field], `restore.target.${field}: must contain {key} (the disk key) because ${why}`);
  }
}

// A file-level restore reads one disk; its destination is on the node (or this host).
function checkFilesTarget({ data, issues }: CheckContext): void {
  const disks = valueAt(data, 'restore', 'disks');
  if (Array.isArray(disks) && disks.length > 1) {
    issues.error(['restore', 'disks'], `restore.disks: a files target reads one disk's filesystems; list one disk (got ${disks.length})`);
  }
  const to = stringAt(data, 'restore', 'target', 'to');
  if (to !== undefined && !hasEnvRef(to) && !path.isAbsolute(expandHome(to))) {
    issues.error(['restore', 'target', 'to'], `restore.target.to: must be an absolute path or start with ~/ (got '${to}')`);
  }
}

function isInside(file: string, dir: string): boolean {
  const relative = path.posix.relative(path.posix.normalize(dir), path.posix.normalize(file));
  return relative === '' || (!relative.startsWith('..') && !path.posix.isAbsolute(relative));
}
