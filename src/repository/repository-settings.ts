// A plan's repository settings against the repository's own (its marker, docs/encryption.md):
// checked before a run opens anything, and recorded when a backup first uses the repository.

import { SendenseError } from '../errors.js';
import { createKeyring, keyringExists } from './keyring.js';
import {
  ensureRepositoryMarker,
  readRepositoryMarker,
  type RepositoryMarker,
  type RepositorySettings,
} from './marker.js';
import { noKeyGiven, offerRepositoryKey, repositorySecret } from './repository-keys.js';
import { readUserKey, type KeySource } from './user-key.js';

/** repository: of a plan. Compression left out: the repository's (none for a new one). */
export interface RepositoryConfig {
  readonly path: string;
  readonly encryption?: KeySource;
  readonly compression?: 'zstd' | 'none';
}

// The settings the repository has (or will have, when a backup first uses it); its key unlocked
// when it is encrypted, so a wrong or missing key fails here, before anything is taken.
export async function checkRepository(config: RepositoryConfig): Promise<RepositorySettings> {
  // The plan check says so first; this guards every other way in (docs/encryption.md#compression).
  if (config.encryption !== undefined && config.compression === 'zstd') {
    throw new SendenseError(
      'compression: zstd cannot be combined with encryption: QEMU stores compressed qcow2 clusters unencrypted',
      { exitCode: 2 },
    );
  }
  if (config.encryption !== undefined) {
    readUserKey(config.encryption); // a missing or short key is said now
    offerRepositoryKey(config.encryption);
  }
  const marker = await readRepositoryMarker(config.path);
  if (marker === undefined) {
    // A first run killed between its keyring and its marker: the key must open that keyring.
    if (config.encryption !== undefined && keyringExists(config.path)) repositorySecret(config.path);
    return { encryption: config.encryption === undefined ? 'none' : 'luks', compression: config.compression ?? 'none' };
  }
  if (marker.encryption === 'luks' && config.encryption === undefined) throw noKeyGiven(config.path);
  if (marker.encryption === 'none' && config.encryption !== undefined) {
    throw new SendenseError(
      `repository ${config.path} is not encrypted (it was created without repository.encryption), but repository.encryption is set: remove it, or use a new repository`,
      {
        exitCode: 2,
      },
    );
  }
  if (config.compression !== undefined && config.compression !== marker.compression) {
    throw new SendenseError(
      `repository ${config.path} was created with compression: ${marker.compression}, but compression: ${config.compression} is set: remove it or make it ${marker.compression}`,
      {
        exitCode: 2,
      },
    );
  }
  if (marker.encryption === 'luks') repositorySecret(config.path);
  return marker;
}

// A backup's first use of a repository: the keyring (encrypted), then the marker that fixes the settings.
// A copy (docs/copies.md) is written by its copy plan only: a backup there would be no point of the hub's.
export async function claimRepository(config: RepositoryConfig): Promise<RepositorySettings> {
  const settings = await checkRepository(config);
  const { copyOf } = settings as RepositoryMarker;
  if (copyOf !== undefined) {
    throw new SendenseError(
      `repository ${config.path} is a copy of ${copyOf.path} on hub ${copyOf.hub} (docs/copies.md): back up into that repository; a copy is written only by its copy plan`,
      {
        exitCode: 2,
      },
    );
  }
  if (settings.encryption === 'luks' && config.encryption !== undefined && !keyringExists(config.path)) {
    await createKeyring(config.path, readUserKey(config.encryption));
  }
  await ensureRepositoryMarker(config.path, settings);
  // Another first run may have written the marker in between, with other settings.
  return checkRepository(config);
}

/** Whether a repository's backups are encrypted: its marker says so, or it has a keyring (a rewritten marker does not make it plain). */
export async function isEncryptedRepository(repository: string): Promise<boolean> {
  return (await readRepositoryMarker(repository))?.encryption === 'luks' || keyringExists(repository);
}

// Outside a plan run (verify, prune, doctor): before anything of an encrypted repository is read,
// a key given (--key-file, --key-env, the plan's) must open it; a plain repository needs none.
// A missing or wrong key fails here, in one line (exit 2).
export async function requireRepositoryKey(repository: string): Promise<void> {
  if (await isEncryptedRepository(repository)) repositorySecret(repository);
}
