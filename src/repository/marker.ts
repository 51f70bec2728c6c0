// The file that says "this directory is a sendense-run repository": a restore refuses any target
// below a directory that holds one, even when this state database has never seen that repository.
// It also records how the repository stores its backups (docs/encryption.md), fixed at creation.

import { constants, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { link, open, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../errors.js';
import { isProcessAlive } from '../process/index.js';
import { crashPoint } from '../crash-points.js';

export const REPOSITORY_MARKER = '.sendense-repository';

/** How every backup file of a repository is stored; a marker without these fields is a plain repository. */
export interface RepositorySettings {
  readonly encryption: 'luks' | 'none';
  readonly compression: 'zstd' | 'none';
}

/** Which repository a copy was made from (docs/copies.md): its marker's creation time and path, and its hub. */
export interface CopyOrigin {
  readonly created: string;
  readonly path: string;
  readonly hub: string;
}

/** Everything a marker says: the settings, when it was written, and for a copy what it is a copy of. */
export interface RepositoryMarker extends RepositorySettings {
  readonly created?: string;
  readonly copyOf?: CopyOrigin;
}

// Undefined when the repository has no marker yet (never used).
export async function readRepositoryMarker(repository: string): Promise<RepositoryMarker | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(repository, REPOSITORY_MARKER), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
  return parseRepositoryMarker(text, path.join(repository, REPOSITORY_MARKER));
}

// `where` names the marker in the error (a copy's is read over SSH).
export function parseRepositoryMarker(text: string, where: string): RepositoryMarker {
  let marker: {
    encryption?: unknown;
    compression?: unknown;
    created?: unknown;
    copyOf?: Partial<Record<keyof CopyOrigin, unknown>>;
  };
  try {
    marker = JSON.parse(text) as typeof marker;
  } catch {
    throw new SendenseError(`${where} is damaged (not JSON)`);
  }
  const { copyOf } = marker;
  const origin =
    typeof copyOf === 'object' && copyOf !== null
      ? { created: String(copyOf.created ?? ''), path: String(copyOf.path ?? ''), hub: String(copyOf.hub ?? '') }
      : undefined;
  return {
    encryption: marker.encryption === 'luks' ? 'luks' : 'none',
    compression: marker.compression === 'zstd' ? 'zstd' : 'none',
    ...(typeof marker.created === 'string' && { created: marker.created }),
    ...(origin !== undefined && { copyOf: origin }),
  };
}

// A marker's text: written once, never changed (a copy's says what it is a copy of).
export function repositoryMarkerText(settings: RepositorySettings, copyOf?: CopyOrigin): string {
  const { encryption, compression } = settings;
  return `${JSON.stringify({ format: 'sendense-run repository', version: 1, created: new Date().toISOString(), encryption, compression, ...(copyOf && { copyOf }) })}\n`;
}

// Written once, whole: a temp file linked into place (link fails on an existing marker, which is
// left as it is), so a run reading it at the same moment never finds it empty. Private like every
// repository file. A repository that has its marker gets no temp file at all: a run killed there
// leaves nothing (docs/how-it-works.md#what-is-recorded-and-where).
export async function ensureRepositoryMarker(repository: string, settings: RepositorySettings): Promise<void> {
  const target = path.join(repository, REPOSITORY_MARKER);
  if (existsSync(target)) {
    await removeStaleMarkerTemps(repository);
    return;
  }
  const temp = `${target}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  const file = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    try {
      await file.writeFile(repositoryMarkerText(settings));
      await file.sync();
    } finally {
      await file.close();
    }
    crashPoint('repository.marker-temp-written');
    await link(temp, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  await removeStaleMarkerTemps(repository);
}

// A writer killed (kill -9) between its temp file and the link leaves the temp behind: the next
// run on the repository removes it once its writer is gone and it is a minute old (a writer of
// another hub sharing the repository may have a PID this host does not know); doctor removes a
// dead run's at once (src/doctor/marker-temps.ts).
const MARKER_TEMP = /^\.sendense-repository\.(\d+)-[0-9a-f]{8}\.tmp$/;
export const MARKER_TEMP_MIN_AGE_MS = 60_000;

/** A marker temp file whose writer is not running: its path, the writer's PID and its age. */
export interface MarkerTemp {
  readonly file: string;
  readonly writer: number;
  readonly ageMs: number;
}

export async function orphanMarkerTemps(repository: string): Promise<MarkerTemp[]> {
  const found: MarkerTemp[] = [];
  for (const name of await readdir(repository).catch(() => [] as string[])) {
    const writer = MARKER_TEMP.exec(name)?.[1];
    if (writer === undefined || isProcessAlive(Number(writer))) continue;
    const file = path.join(repository, name);
    const ageMs = await stat(file).then(
      (info) => Date.now() - info.mtimeMs,
      () => 0,
    );
    found.push({ file, writer: Number(writer), ageMs });
  }
  return found;
}

async function removeStaleMarkerTemps(repository: string): Promise<void> {
  for (const temp of await orphanMarkerTemps(repository))
    if (temp.ageMs >= MARKER_TEMP_MIN_AGE_MS) await rm(temp.file, { force: true });
}
