// Finds the manifests of a repository (<repository>/<vm>/disk-<key>/<backup-id>.json), for
// catalog import and for the check that the database knows every backup of a VM.

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { isSendenseError } from '../errors.js';
import type { DiskManifest } from './manifest.js';
import { readManifest } from './manifest-file.js';

export interface FoundManifest {
  readonly path: string;
  readonly manifest: DiskManifest;
}

export interface ManifestScan {
  readonly found: readonly FoundManifest[];
  /** Files named like manifests that are not readable as one, or refused (manifest-file.ts). */
  readonly problems: readonly string[];
  /** The backup ids those files are named after: such a backup is not whole and is not imported. */
  readonly refused: ReadonlySet<string>;
}

// Only `vm` when given; a repository or VM folder that does not exist holds none.
export async function scanManifests(repository: string, vm?: string): Promise<ManifestScan> {
  const found: FoundManifest[] = [];
  const problems: string[] = [];
  const refused = new Set<string>();
  const vms = vm === undefined ? await listFolder(repository) : [vm];
  for (const name of vms) {
    for (const { path: file, backupId } of await manifestsByName(repository, name)) {
      try {
        found.push({ path: file, manifest: await readManifest(file) });
      } catch (error) {
        if (!isSendenseError(error)) throw error;
        problems.push(error.message);
        refused.add(backupId);
      }
    }
  }
  return { found, problems, refused };
}

export interface NamedManifest {
  readonly backupId: string;
  readonly path: string;
}

// The manifests of one VM by file name only (<backup-id>.json), without reading them: a run asks
// this of a repository that may hold years of backups.
export async function manifestsByName(repository: string, vm: string): Promise<readonly NamedManifest[]> {
  const named: NamedManifest[] = [];
  for (const diskDir of (await listFolder(path.join(repository, vm))).filter((entry) => /^disk-\d+$/.test(entry))) {
    const dir = path.join(repository, vm, diskDir);
    for (const file of (await listFolder(dir)).filter((entry) => entry.endsWith('.json') && !entry.startsWith('.'))) {
      named.push({ backupId: file.slice(0, -'.json'.length), path: path.join(dir, file) });
    }
  }
  return named;
}

/** The names in `dir`, sorted; none when it does not exist or is no folder. */
export async function listFolder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw error;
  }
}
