// The ad-hoc restore's target checked on this host before anything starts (the CLI's exit 2, the
// API's 400): one problem, naming the input at fault. The run checks again when it writes.

import { statSync } from 'node:fs';
import path from 'node:path';
import type { DiskKey } from '../plan/types.js';
import { targetPathPattern, type AdhocRestore } from './adhoc-restore.js';

/** The input at fault, in the API body's words (the CLI names its option). */
export type RestoreField = 'target.path' | 'target.url' | 'target.domain' | 'disks' | 'overwrite';

export interface TargetProblem {
  readonly field: RestoreField;
  readonly message: string;
}

// disks: the keys the point will restore.
export function targetProblem(restore: AdhocRestore, disks: readonly DiskKey[]): TargetProblem | undefined {
  const pattern = targetPathPattern(restore);
  if (pattern === undefined) return undefined;
  const given = restore.target.kind === 'nbd' ? '' : restore.target.path;
  const problem = (field: RestoreField, message: string) => ({ field, message });
  if (!path.isAbsolute(given)) return problem('target.path', `the target must be an absolute path (got '${given}')`);
  if (isInside(pattern, restore.repository))
    return problem(
      'target.path',
      `the target ${given} is inside the repository ${restore.repository}; a restore never writes into a repository`,
    );
  const domain = restore.target.kind === 'domain';
  if (domain && restore.overwrite)
    return problem('overwrite', 'a domain target never replaces a file: the new domain gets new files');
  if ((restore.target.kind === 'dir' || domain) && existsAs(given) === 'other')
    return problem('target.path', `the target directory ${given} exists and is not a directory`);
  if (disks.length > 1 && !pattern.includes('{key}'))
    return problem(
      'target.path',
      `the target ${given} must contain {key} (the disk key): ${disks.length} disks are restored (${disks.join(', ')})`,
    );
  for (const key of disks) {
    const file = pattern.replaceAll('{key}', String(key));
    const existing = existsAs(file);
    if (existing === undefined) continue;
    if (existing !== 'file') return problem('target.path', `the target ${file} for disk ${key} is not a regular file`);
    if (domain)
      return problem(
        'target.path',
        `the target ${file} for disk ${key} already exists on this host: a domain target never replaces a file`,
      );
    if (!restore.overwrite)
      return problem('overwrite', `the target ${file} for disk ${key} already exists on this host`);
  }
  return undefined;
}

function existsAs(file: string): 'file' | 'directory' | 'other' | undefined {
  try {
    const stat = statSync(file);
    return stat.isFile() ? 'file' : stat.isDirectory() ? 'directory' : 'other';
  } catch {
    return undefined;
  }
}

function isInside(file: string, dir: string): boolean {
  const relative = path.relative(path.resolve(dir), path.resolve(file));
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}
