// --key-file FILE / --key-env NAME of the commands that read backup data outside a plan run
// (verify, files, mount, serve, prune, doctor): the key of an encrypted repository, checked here at
// the edge and offered to every encrypted repository the command opens (repository-keys.ts). A
// plain repository never needs one. The key's text is never printed, not even in an error.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { isSendenseError, usageError } from '../errors.js';
import { offerRepositoryKey } from '../repository/repository-keys.js';
import { MIN_KEY_CHARACTERS, readUserKey, type KeySource } from '../repository/user-key.js';
import { declareOptions, type GivenOptions } from './command-options.js';

export const KEY_OPTIONS = declareOptions([
  {
    name: '--key-file',
    value: 'FILE',
    help: 'the key of an encrypted repository, read from FILE (one trailing newline ignored); a plain repository needs none',
  },
  {
    name: '--key-env',
    value: 'NAME',
    help: 'the key of an encrypted repository, read from the environment variable NAME (its name, not the key)',
  },
]);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// The key options given: at most one of them, once. A key that cannot be read (no such file, an
// unset variable, too short) is a usage error (exit 2); a readable one is offered.
export function keyOption(given: GivenOptions<typeof KEY_OPTIONS>): KeySource | undefined {
  const file = given.values('--key-file');
  const env = given.values('--key-env');
  const count = file.length + env.length;
  if (count === 0) return undefined;
  if (file.length > 0 && env.length > 0) throw usageError('give --key-file or --key-env, not both');
  if (count > 1) throw usageError(`${file.length > 0 ? '--key-file' : '--key-env'} is given twice: give one key`);
  let key: KeySource;
  if (file.length > 0) {
    const keyFile = file[0]!;
    if (keyFile === '' || keyFile.startsWith('--'))
      throw usageError('--key-file needs the path of a file holding the key');
    // A long relative name of no file may be the key itself: not repeated then.
    if (!existsSync(keyFile) && keyFile.length >= MIN_KEY_CHARACTERS && !/^[/.~]/.test(keyFile)) {
      throw usageError(
        '--key-file names no file (not repeated here: it may be the key itself); give the path of a file that holds the key',
      );
    }
    key = { keyFile: path.resolve(keyFile) };
  } else {
    const keyEnv = env[0]!;
    // Not repeated: what was given may be the key itself.
    if (!ENV_NAME.test(keyEnv))
      throw usageError(
        '--key-env needs the NAME of an environment variable (letters, digits and _), not the key itself',
      );
    if (!process.env[keyEnv]) {
      // A name as long as a key may be the key itself: not repeated then.
      if (keyEnv.length >= MIN_KEY_CHARACTERS)
        throw usageError(
          '--key-env names an environment variable that is not set (not repeated here: a name that long may be the key itself); give the NAME of the variable that holds the key',
        );
      throw usageError(`--key-env ${keyEnv}: the environment variable is not set (it should hold the repository key)`);
    }
    key = { keyEnv };
  }
  try {
    readUserKey(key);
  } catch (error) {
    if (isSendenseError(error)) throw usageError(error.message);
    throw error;
  }
  offerRepositoryKey(key);
  return key;
}
