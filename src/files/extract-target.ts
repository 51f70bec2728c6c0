// Where --get (or a files restore target) writes: a directory, or a .tar, .tar.gz/.tgz or .zip
// file. An existing non-empty target is refused unless overwrite; nothing is touched to check.

import { readdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { SendenseError } from '../errors.js';

export type ExtractFormat = 'dir' | 'tar' | 'tar.gz' | 'zip';

export interface ExtractTarget {
  readonly format: ExtractFormat;
  /** Absolute. */
  readonly path: string;
}

export function parseExtractTarget(to: string): ExtractTarget {
  const absolute = path.resolve(to);
  const lower = absolute.toLowerCase();
  const format: ExtractFormat =
    lower.endsWith('.tar.gz') || lower.endsWith('.tgz')
      ? 'tar.gz'
      : lower.endsWith('.tar')
        ? 'tar'
        : lower.endsWith('.zip')
          ? 'zip'
          : 'dir';
  return { format, path: absolute };
}

// Throws the one-line refusal, or returns whether the target exists already (and is replaced/merged).
export function checkExtractTarget(target: ExtractTarget, overwrite: boolean): boolean {
  let stat: Stats;
  try {
    stat = statSync(target.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new SendenseError(`cannot use ${target.path}: ${(error as Error).message}`);
    const parent = path.dirname(target.path);
    if (!isDirectory(parent)) throw new SendenseError(`cannot write ${target.path}: ${parent} is not a directory`);
    return false;
  }
  if (target.format === 'dir') {
    if (!stat.isDirectory())
      throw new SendenseError(
        `${target.path} exists and is not a directory (give a new directory, or a .tar, .tar.gz or .zip file)`,
      );
    if (readdirSync(target.path).length === 0) return true;
    if (!overwrite)
      throw new SendenseError(
        `${target.path} is not empty: give an empty or new directory, or --overwrite to replace what has the same names`,
      );
    return true;
  }
  if (stat.isDirectory()) throw new SendenseError(`${target.path} is a directory, not a ${target.format} file`);
  if (!overwrite) throw new SendenseError(`${target.path} exists: give a new file name, or --overwrite to replace it`);
  return true;
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}
