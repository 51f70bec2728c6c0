// An operator's repository key (docs/encryption.md#keys): read from a key file or an environment
// variable, one trailing newline dropped, at least 32 characters. It never leaves this process
// except wrapped in the keyring, and no error repeats it.

import { readFileSync, statSync } from 'node:fs';
import { SendenseError } from '../errors.js';
import { hideFromChildren } from '../process/child-env.js';
import { addSecret } from '../secrets/mask.js';

/** Where an operator's key comes from: repository.encryption of a plan, or --key-file / --key-env. */
export type KeySource = { readonly keyFile: string } | { readonly keyEnv: string };

/** The shortest key accepted: the KDF is tuned for random keys (docs/encryption.md#keys). */
export const MIN_KEY_CHARACTERS = 32;

const MAKE_ONE = 'make one with: openssl rand -base64 32';

export function describeKeySource(source: KeySource): string {
  return 'keyFile' in source ? `key file ${source.keyFile}` : `environment variable ${source.keyEnv}`;
}

// The key's text, checked: UTF-8 (QEMU takes secrets as text), long enough.
export function readUserKey(source: KeySource): string {
  const where = describeKeySource(source);
  let bytes: Buffer;
  if ('keyFile' in source) {
    try {
      bytes = readFileSync(source.keyFile);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new SendenseError(
        `cannot read ${where}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code}`,
      );
    }
  } else {
    // Read here, then kept out of every child's environment (a child's environ is readable while it runs).
    hideFromChildren(source.keyEnv);
    const value = process.env[source.keyEnv];
    if (value === undefined || value === '')
      throw new SendenseError(`${where} is not set (it should hold the repository key)`);
    bytes = Buffer.from(value);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes).replace(/\r?\n$/, '');
  } catch {
    throw new SendenseError(`${where} is not UTF-8 text (${MAKE_ONE})`);
  }
  if ([...text].length < MIN_KEY_CHARACTERS) {
    throw new SendenseError(
      `${where} holds ${[...text].length} characters; a repository key must be at least ${MIN_KEY_CHARACTERS} random characters (${MAKE_ONE})`,
    );
  }
  // Whatever this process prints or records is masked: a child that echoes it cannot leak it.
  addSecret(text);
  return text;
}

// Whether someone other than the owner (group or others) can read a key file: validate warns.
export function keyFileIsShared(file: string): boolean {
  try {
    return (statSync(file).mode & 0o044) !== 0;
  } catch {
    return false;
  }
}
