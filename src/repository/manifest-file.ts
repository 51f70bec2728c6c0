// Reading and writing manifests: written atomically (a temp file beside it, fsync, rename, fsync of
// the directory), mode 0600 like every repository file; read back with a check of its shape.

import { constants } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../errors.js';
import { MANIFEST_FORMAT, MANIFEST_VERSION, type DiskManifest } from './manifest.js';

export async function writeManifest(file: string, manifest: DiskManifest): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(manifest)}\n`);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, file);
  const dir = await open(path.dirname(file), constants.O_RDONLY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export async function readManifest(file: string): Promise<DiskManifest> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `unreadable (${(error as Error).message})`;
    throw new SendenseError(`manifest ${file} is ${why}`);
  }
  const manifest = parsed as Partial<DiskManifest>;
  if (manifest?.format !== MANIFEST_FORMAT || manifest.version !== MANIFEST_VERSION || typeof manifest.backupId !== 'string' || typeof manifest.diskKey !== 'number') {
    throw new SendenseError(`manifest ${file} is not a sendense backup manifest (version ${MANIFEST_VERSION})`);
  }
  return manifest as DiskManifest;
}
