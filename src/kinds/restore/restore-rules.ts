// restore.point is latest, a backup id or an ISO-8601 time; a target names each disk's own
// file or export with {key} whenever more than one disk may be restored, a file target by an
// absolute path on the node. A files restore reads through a mount, which rate cannot limit.

import path from 'node:path';
import { hasEnvRef } from '../../plan/env-refs.js';
import { expandHome } from '../../plan/home-path.js';
import { listAt, stringAt, valueAt } from '../../plan/raw-plan.js';
import type { CheckContext } from '../../plan/checks/check-context.js';
import { parseRestorePoint } from '../../plan/restore-point.js';
import { parseRate } from '../../rate/rate-text.js';

export function checkRestoreRules(context: CheckContext): void {
  const { data, issues } = context;
  const point = stringAt(data, 'restore', 'point');
  if (point !== undefined && point !== '') {
    const parsed = parseRestorePoint(point);
    if (typeof parsed === 'string') issues.error(['restore', 'point'], `restore.point: ${parsed}`);
  }
  const type = stringAt(data, 'restore', 'target', 'type');
  if (type === 'files') return checkFilesTarget(context);
  const field = type === 'file' || type === 'domain' ? 'path' : type === 'nbd' ? 'url' : undefined;
  if (field === undefined) return;
  const target = stringAt(data, 'restore', 'target', field);
  if (field === 'path' && target !== undefined && target !== '' && !hasEnvRef(target) && !path.isAbsolute(target)) {
    issues.error(
      ['restore', 'target', 'path'],
      `restore.target.path: must be an absolute path on the node (got '${target}')`,
    );
  }
  const repository = stringAt(data, 'repository', 'path');
  if (
    field === 'path' &&
    target !== undefined &&
    repository !== undefined &&
    !hasEnvRef(target) &&
    !hasEnvRef(repository) &&
    isInside(target, repository)
  ) {
    issues.error(
      ['restore', 'target', 'path'],
      `restore.target.path: ${target} is inside the repository ${repository}; a restore never writes into a repository`,
    );
  }
  const disks = valueAt(data, 'restore', 'disks');
  const single = Array.isArray(disks) && listAt(data, 'restore', 'disks').length === 1;
  if (target !== undefined && !target.includes('{key}') && !single && !hasEnvRef(target)) {
    const why = Array.isArray(disks)
      ? `restore.disks lists ${disks.length} disks`
      : 'restore.disks is not given, so every disk of the backup is restored';
    issues.error(
      ['restore', 'target', field],
      `restore.target.${field}: must contain {key} (the disk key) because ${why}`,
    );
  }
}

// A file-level restore reads one disk; its destination is on the node (or this host).
function checkFilesTarget({ data, issues }: CheckContext): void {
  const rate = stringAt(data, 'rate');
  if (rate !== undefined && !hasEnvRef(rate) && parseRate(rate) !== undefined) {
    issues.error(['rate'], 'rate: a files restore (restore.target.type: files) cannot be limited; remove rate');
  }
  const disks = valueAt(data, 'restore', 'disks');
  if (Array.isArray(disks) && disks.length > 1) {
    issues.error(
      ['restore', 'disks'],
      `restore.disks: a files target reads one disk's filesystems; list one disk (got ${disks.length})`,
    );
  }
  const to = stringAt(data, 'restore', 'target', 'to');
  if (to !== undefined && !hasEnvRef(to) && !path.isAbsolute(expandHome(to))) {
    issues.error(
      ['restore', 'target', 'to'],
      `restore.target.to: must be an absolute path or start with ~/ (got '${to}')`,
    );
  }
}

function isInside(file: string, dir: string): boolean {
  const relative = path.posix.relative(path.posix.normalize(dir), path.posix.normalize(file));
  return relative === '' || (!relative.startsWith('..') && !path.posix.isAbsolute(relative));
}
