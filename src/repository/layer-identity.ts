// Which file is a point's own (docs/encryption.md#what-an-attacker-cannot-plant): in an encrypted
// repository every point's manifest names, under its authentication code, the LUKS header of its
// file. Another point's file, made under the same repository secret and copied in its place, opens
// and decrypts just as well; only its LUKS header says it is not this point's.

import { readFileSync } from 'node:fs';
import { isSendenseError, SendenseError } from '../errors.js';
import { readLuksIdentity, sameLuksIdentity, type LuksIdentity } from '../qemu/luks-identity.js';
import { manifestPath } from './manifest.js';
import { parseManifest } from './manifest-file.js';
import { manifestMacProblem } from './manifest-mac.js';
import { encryptedRepositoryOf, plainFileProblem } from './repository-keys.js';

/** What a new manifest records of its file: its LUKS header in an encrypted repository, else nothing. */
export function identityToRecord(file: string): LuksIdentity | undefined {
  if (encryptedRepositoryOf(file) === undefined) return undefined;
  const identity = readLuksIdentity(file);
  if (identity === undefined)
    throw new SendenseError(`the LUKS header of ${file} cannot be read: its manifest cannot name it`);
  return identity;
}

/**
 * Why `file` of an encrypted repository may not be read as the point its manifest describes: it is
 * not LUKS, its manifest is missing or not authenticated, or the manifest names another LUKS header.
 * Undefined in a plain repository, and for a manifest written before it named one (verify
 * --authenticate adds it). A few KB read: the manifest and the file's headers.
 */
export function layerIdentityProblem(file: string): string | undefined {
  const repository = encryptedRepositoryOf(file);
  if (repository === undefined) return undefined;
  const plain = plainFileProblem(file);
  if (plain !== undefined) return plain;
  const manifestFile = manifestPath(file);
  let text: string;
  try {
    text = readFileSync(manifestFile, 'utf8');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
      ? `its manifest ${manifestFile} is missing: nothing says the file is this point's`
      : `its manifest ${manifestFile} is unreadable (${(error as Error).message})`;
  }
  try {
    const manifest = parseManifest(text, manifestFile);
    const mac = manifestMacProblem(manifest, repository);
    if (mac !== undefined) return `manifest ${manifestFile} is refused: ${mac}`;
    if (manifest.identity === undefined) return undefined;
    return identityMismatch(file, manifest.identity);
  } catch (error) {
    if (!isSendenseError(error) || error.exitCode === 2) throw error;
    return error.message;
  }
}

/** Why `file`'s LUKS header is not `named` (what its manifest says), or undefined when it is. */
export function identityMismatch(file: string, named: LuksIdentity): string | undefined {
  const actual = readLuksIdentity(file);
  if (actual === undefined) return `its LUKS header cannot be read`;
  if (sameLuksIdentity(actual, named)) return undefined;
  const uuids =
    actual.luksUuid === named.luksUuid
      ? `UUID ${actual.luksUuid}, but another header digest`
      : `UUID ${actual.luksUuid}, the manifest's ${named.luksUuid}`;
  return `its LUKS header is not the one its manifest names (${uuids}): another file was put in its place`;
}
