// The repository's keyring (docs/encryption.md#how-keys-work): one random repository secret, the
// LUKS passphrase of every backup file, kept only wrapped (scrypt + AES-256-GCM) by each
// operator key. Adding or removing a key rewrites this one small file atomically, never a backup.

import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError } from '../errors.js';
import { isProcessAlive } from '../process/process-identity.js';
import { crashPoint } from '../crash-points.js';
import { createNewFile } from './new-file.js';

export const KEYRING_FILE = '.sendense-keys';

const FORMAT = 'sendense-run keyring';
// scrypt cost: ~50 ms per unwrap; keys are random (user-key.ts), so this guards, it does not stretch.
const SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
const SCRYPT_MAXMEM = 64 * 1024 * 1024;

interface WrappedKey {
  readonly id: string;
  readonly added: string;
  readonly kdf: {
    readonly name: 'scrypt';
    readonly N: number;
    readonly r: number;
    readonly p: number;
    readonly salt: string;
  };
  readonly cipher: 'aes-256-gcm';
  readonly iv: string;
  readonly tag: string;
  readonly wrapped: string;
}

interface Keyring {
  readonly format: typeof FORMAT;
  readonly version: 1;
  readonly keys: readonly WrappedKey[];
}

/** The repository secret as unwrapped by one operator key, and which entry that key is. */
export interface UnlockedKeyring {
  readonly passphrase: string;
  readonly keyId: string;
}

export interface KeyringEntry {
  readonly id: string;
  readonly added: string;
  /** Whether the key given to `key list` is this entry. */
  readonly given: boolean;
}

export function keyringPath(repository: string): string {
  return path.join(repository, KEYRING_FILE);
}

export function keyringExists(repository: string): boolean {
  return readKeyring(repository) !== undefined;
}

// A new repository's keyring with its first key (and `moreKeys`, in the same write: `key add`
// before the first backup leaves no keyring or one with both keys, never one with the first
// alone); a keyring a crashed first run left is reused when this key opens it.
export async function createKeyring(
  repository: string,
  userKey: string,
  moreKeys: readonly string[] = [],
): Promise<UnlockedKeyring> {
  if (readKeyring(repository) !== undefined) return unlockKeyring(repository, userKey);
  const passphrase = randomBytes(32).toString('base64');
  const entry = wrap(passphrase, userKey);
  const more = [...new Set(moreKeys)].filter((key) => key !== userKey).map((key) => wrap(passphrase, key));
  await writeKeyring(repository, { format: FORMAT, version: 1, keys: [entry, ...more] }, undefined);
  return { passphrase, keyId: entry.id };
}

// Synchronous: qemu arguments are built synchronously (qemu/image-opts.ts); an unwrap takes ~50 ms.
export function unlockKeyring(repository: string, userKey: string): UnlockedKeyring {
  const keyring = requireKeyring(repository);
  const unlocked = openWith(keyring, userKey);
  if (unlocked === undefined)
    throw new SendenseError(`repository ${repository} is encrypted; the key given does not open it`);
  return unlocked;
}

// Adds `newKey` (idempotent: a key already there keeps its entry). Returns its id and whether it was new.
export async function addKeyringKey(
  repository: string,
  currentKey: string,
  newKey: string,
): Promise<{ readonly keyId: string; readonly added: boolean }> {
  const keyring = requireKeyring(repository);
  const { passphrase } = unlockKeyring(repository, currentKey);
  await removeStaleTemps(repository);
  const existing = openWith(keyring, newKey);
  if (existing !== undefined) return { keyId: existing.keyId, added: false };
  const entry = wrap(passphrase, newKey);
  await writeKeyring(repository, { ...keyring, keys: [...keyring.keys, entry] }, keyring);
  return { keyId: entry.id, added: true };
}

// Removes every entry `oldKey` opens; `remainingKey` must open another one, so a key is never the last.
export async function removeKeyringKey(
  repository: string,
  remainingKey: string,
  oldKey: string,
): Promise<{ readonly removed: readonly string[] }> {
  const keyring = requireKeyring(repository);
  const remaining = unlockKeyring(repository, remainingKey);
  await removeStaleTemps(repository);
  const doomed = new Set(keyring.keys.filter((entry) => unwrap(entry, oldKey) !== undefined).map((entry) => entry.id));
  if (doomed.has(remaining.keyId)) {
    throw new SendenseError(
      `the key to remove and the key to keep are the same key (${remaining.keyId}): refusing to remove the repository's last way in`,
    );
  }
  if (doomed.size === 0) return { removed: [] };
  await writeKeyring(repository, { ...keyring, keys: keyring.keys.filter((entry) => !doomed.has(entry.id)) }, keyring);
  return { removed: [...doomed] };
}

export async function listKeyring(repository: string, userKey: string): Promise<readonly KeyringEntry[]> {
  const keyring = requireKeyring(repository);
  const { keyId } = unlockKeyring(repository, userKey);
  return keyring.keys.map((entry) => ({ id: entry.id, added: entry.added, given: entry.id === keyId }));
}

function openWith(keyring: Keyring, userKey: string): UnlockedKeyring | undefined {
  for (const entry of keyring.keys) {
    const passphrase = unwrap(entry, userKey);
    if (passphrase !== undefined) return { passphrase, keyId: entry.id };
  }
  return undefined;
}

function wrap(passphrase: string, userKey: string): WrappedKey {
  const id = `k-${randomBytes(4).toString('hex')}`;
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek(userKey, salt, SCRYPT), iv);
  cipher.setAAD(Buffer.from(`${FORMAT}:${id}`));
  const wrapped = Buffer.concat([cipher.update(passphrase, 'utf8'), cipher.final()]);
  return {
    id,
    added: new Date().toISOString(),
    kdf: { name: 'scrypt', ...SCRYPT, salt: salt.toString('base64') },
    cipher: 'aes-256-gcm',
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    wrapped: wrapped.toString('base64'),
  };
}

function unwrap(entry: WrappedKey, userKey: string): string | undefined {
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      kek(userKey, Buffer.from(entry.kdf.salt, 'base64'), entry.kdf),
      Buffer.from(entry.iv, 'base64'),
    );
    decipher.setAAD(Buffer.from(`${FORMAT}:${entry.id}`));
    decipher.setAuthTag(Buffer.from(entry.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(entry.wrapped, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

function kek(
  userKey: string,
  salt: Buffer,
  cost: { readonly N: number; readonly r: number; readonly p: number },
): Buffer {
  return scryptSync(userKey, salt, 32, { N: cost.N, r: cost.r, p: cost.p, maxmem: SCRYPT_MAXMEM });
}

function requireKeyring(repository: string): Keyring {
  const keyring = readKeyring(repository);
  if (keyring === undefined)
    throw new SendenseError(
      `repository ${repository} is encrypted but its keyring ${keyringPath(repository)} is missing: no key can open its backups`,
    );
  return keyring;
}

function readKeyring(repository: string): Keyring | undefined {
  let text: string;
  try {
    text = readFileSync(keyringPath(repository), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const keyring = JSON.parse(text) as Keyring;
    if (keyring.format === FORMAT && keyring.version === 1 && Array.isArray(keyring.keys)) return keyring;
  } catch {
    // reported below
  }
  throw new SendenseError(`${keyringPath(repository)} is damaged (not a sendense-run keyring)`);
}

// The temp keyrings of key commands killed before their rename (.sendense-keys.tmp-PID, PID gone):
// one may hold the secret wrapped by a key that never got in, or by one removed since.
async function removeStaleTemps(repository: string): Promise<void> {
  for (const name of await readdir(repository)) {
    const pid = /^\.sendense-keys\.tmp-([0-9]+)$/.exec(name)?.[1];
    if (pid === undefined || (Number(pid) !== process.pid && isProcessAlive(Number(pid)))) continue;
    await rm(path.join(repository, name), { force: true });
  }
}

// Atomic (a temp file, fsync, rename, directory fsync): a crash leaves the old keyring or the new
// one. `before`: the keyring this change was made from; a concurrent change in between is refused.
async function writeKeyring(repository: string, keyring: Keyring, before: Keyring | undefined): Promise<void> {
  const target = keyringPath(repository);
  const temp = `${target}.tmp-${process.pid}`;
  const file = await createNewFile(temp, 0o600);
  try {
    await file.writeFile(`${JSON.stringify(keyring, null, 2)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  crashPoint('key.keyring-written');
  try {
    const now = readKeyring(repository);
    if (JSON.stringify(now) !== JSON.stringify(before))
      throw new SendenseError(
        `${target} changed while this command ran (another key command?): nothing was changed, run it again`,
      );
    await rename(temp, target);
  } finally {
    await rm(temp, { force: true });
  }
  const dir = await open(repository, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
