// Which secret opens an encrypted backup file (docs/encryption.md#how-keys-work): the keys this
// process was given (a plan's repository.encryption, --key-file, --key-env) are tried on the
// keyring of the repository that holds the file, once per repository.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isSendenseError, SendenseError } from '../errors.js';
import type { ImageSecret } from '../qemu/image-secret.js';
import { addSecret } from '../secrets/mask.js';
import { keyringPath, unlockKeyring } from './keyring.js';
import { parseRepositoryMarker, REPOSITORY_MARKER } from './marker.js';
import { isLuksQcow2 } from '../qemu/qcow2-header.js';
import { describeKeySource, readUserKey, type KeySource } from './user-key.js';

const offered: KeySource[] = [];
const unlocked = new Map<string, ImageSecret>();

/** A key this process may use on any encrypted repository it opens. */
export function offerRepositoryKey(source: KeySource): void {
  if (!offered.some((known) => describeKeySource(known) === describeKeySource(source))) offered.push(source);
}

export function offeredKeyCount(): number {
  return offered.length;
}

// The secret of an encrypted repository, from the first offered key that opens its keyring. A key
// that is missing, unreadable or opens nothing is the user's to fix: exit 2, whoever asks.
export function repositorySecret(repository: string): ImageSecret {
  const root = path.resolve(repository);
  const known = unlocked.get(root);
  if (known !== undefined) return known;
  if (offered.length === 0) throw noKeyGiven(root);
  try {
    const secret = unlockWithOffered(root);
    addSecret(secret.passphrase);
    unlocked.set(root, secret);
    return secret;
  } catch (error) {
    if (!isSendenseError(error) || error.exitCode === 2) throw error;
    throw new SendenseError(error.message, { exitCode: 2, cause: error });
  }
}

function unlockWithOffered(root: string): ImageSecret {
  for (const source of offered) {
    const userKey = readUserKey(source);
    try {
      return { passphrase: unlockKeyring(root, userKey).passphrase };
    } catch (error) {
      if (offered.length === 1 || !(error instanceof SendenseError) || !/does not open/.test(error.message))
        throw error;
    }
  }
  throw new SendenseError(`repository ${root} is encrypted; none of the ${offered.length} keys given opens it`);
}

/** The secret for an encrypted layer: its repository's (the nearest directory above it with a marker). */
export function secretForLayer(file: string): ImageSecret {
  const repository = repositoryAbove(file);
  if (repository === undefined)
    throw new SendenseError(
      `${file} is encrypted but lies in no sendense-run repository (no ${REPOSITORY_MARKER} above it): no key can be found for it`,
    );
  return repositorySecret(repository);
}

export function noKeyGiven(repository: string): SendenseError {
  return new SendenseError(
    `repository ${repository} is encrypted; no key given (repository.encryption in the plan, or --key-file / --key-env)`,
    { exitCode: 2 },
  );
}

/**
 * The encrypted repository holding `file` (its marker says luks, or it has a keyring: an attacker
 * who rewrites the marker still leaves the keyring every encrypted file needs); undefined otherwise.
 */
export function encryptedRepositoryOf(file: string): string | undefined {
  const repository = repositoryAbove(file);
  if (repository === undefined) return undefined;
  if (existsSync(keyringPath(repository))) return repository;
  const marker = path.join(repository, REPOSITORY_MARKER);
  return parseRepositoryMarker(readFileSync(marker, 'utf8'), marker).encryption === 'luks' ? repository : undefined;
}

// Every file of an encrypted repository is a LUKS qcow2 (docs/encryption.md#what-an-attacker-cannot-plant):
// a plain one was not written by this repository, and reading it would hand back whatever was planted.
export function plainFileProblem(file: string): string | undefined {
  const repository = encryptedRepositoryOf(file);
  if (repository === undefined || isLuksQcow2(file)) return undefined;
  return `${file} is not LUKS-encrypted, but repository ${repository} is: it is not a file this repository wrote`;
}

function repositoryAbove(file: string): string | undefined {
  for (let dir = path.dirname(path.resolve(file)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, REPOSITORY_MARKER))) return dir;
    if (dir === path.dirname(dir)) return undefined;
  }
}
