// `sendense-run key add|remove|list REPOSITORY`: the operator keys of an encrypted repository
// (docs/encryption.md). Each key wraps the repository secret in <repository>/.sendense-keys; adding
// or removing one rewrites that file atomically and nothing else: no backup is re-encrypted, and no
// state database is opened. A key's text is never printed, not even in an error.

import { statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { SendenseError, usageError } from '../errors.js';
import {
  addKeyringKey,
  createKeyring,
  KEYRING_FILE,
  keyringExists,
  keyringPath,
  listKeyring,
  removeKeyringKey,
  type KeyringEntry,
} from '../repository/keyring.js';
import { ensureRepositoryMarker, readRepositoryMarker, REPOSITORY_MARKER } from '../repository/marker.js';
import { makePrivateDirs } from '../repository/private-dirs.js';
import { MIN_KEY_CHARACTERS, readUserKey, type KeySource } from '../repository/user-key.js';
import { addSecret } from '../secrets/mask.js';
import { crashPoint } from '../crash-points.js';
import { formatLocalTime } from '../format/local-time.js';
import { formatTable } from '../format/table.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { didYouMean } from './nearest-name.js';

const ACTIONS = ['add', 'remove', 'list'] as const;
type Action = (typeof ACTIONS)[number];

const OPTIONS = declareOptions([
  { name: '--key-file', value: 'FILE', help: 'a key that opens the repository (the one that stays, with remove)' },
  { name: '--key-env', value: 'NAME', help: 'the same, from the environment variable NAME' },
  { name: '--new-key-file', value: 'FILE', help: 'add: the key to add' },
  { name: '--new-key-env', value: 'NAME', help: 'add: the key to add, from the environment variable NAME' },
  { name: '--remove-key-file', value: 'FILE', help: 'remove: the key to remove' },
  { name: '--remove-key-env', value: 'NAME', help: 'remove: the key to remove, from the environment variable NAME' },
]);

type KeyLine =
  | {
      readonly type: 'key';
      readonly repository: string;
      readonly keyId: string;
      readonly added: string;
      readonly given: boolean;
    }
  | {
      readonly type: 'key-added';
      readonly repository: string;
      readonly keyId: string;
      readonly changed: boolean;
      readonly keys: number;
    }
  | {
      readonly type: 'key-removed';
      readonly repository: string;
      readonly keyIds: readonly string[];
      readonly changed: boolean;
      readonly keys: number;
    };

const JSON_OUTPUT: JsonOutput = {
  intro:
    "`key list`: a `key` per key of the repository, oldest first. `key add`: one `key-added`. `key remove`: one `key-removed`. No key's text is ever printed.",
  lines: typedLines<KeyLine>({
    key: {
      when: '`key list`',
      fields: {
        repository: '',
        keyId: '',
        added: 'when it was added, ISO 8601',
        given: 'it is the key given with `--key-file`/`--key-env`',
      },
    },
    'key-added': {
      when: '`key add`',
      fields: {
        repository: '',
        keyId: 'the new key, or the key it was already',
        changed: 'false when the new key was a key already',
        keys: 'how many keys open the repository now',
      },
    },
    'key-removed': {
      when: '`key remove`',
      fields: {
        repository: '',
        keyIds: 'the entries removed, none when the key was not one',
        changed: '',
        keys: 'how many keys open the repository now',
      },
    },
  }),
};

export const keyCommand: CommandSpec = defineCommand({
  name: 'key',
  usage:
    'sendense-run key add|remove|list REPOSITORY --key-file FILE|--key-env NAME [--new-key-file FILE|--new-key-env NAME] [--remove-key-file FILE|--remove-key-env NAME]',
  does:
    'The keys of an encrypted repository, each of which opens every backup in it. --key-file/--key-env\n' +
    'is a key that opens REPOSITORY now.\n' +
    '  key add REPOSITORY --key-file FILE --new-key-file NEW        NEW opens it too (one there already: said so)\n' +
    '  key remove REPOSITORY --key-file FILE --remove-key-file OLD  OLD no longer opens it (FILE stays a key)\n' +
    "  key list REPOSITORY --key-file FILE                          each key's id, when it was added, which is FILE\n" +
    '(--key-env, --new-key-env, --remove-key-env NAME: the key in the environment variable NAME instead.)\n' +
    'key add on a repository no backup has used yet (no directory, or an empty one) makes it an encrypted\n' +
    'repository opened by both keys, so a recovery key is in place before the first backup.\n' +
    'Only REPOSITORY/.sendense-keys is rewritten, atomically: a crash leaves the old keys or the new ones, and\n' +
    'the same command run again finishes it. No backup is re-encrypted; no state database is used. A key is\n' +
    'at least 32 characters of text (make one with: openssl rand -base64 32), in a file only its owner reads.',
  options: OPTIONS,
  exitCodes: [
    {
      code: 0,
      when: 'added, removed or listed; also a key to add that is there already, or a key to remove that is not (said so, nothing changed)',
    },
    {
      code: 1,
      when: 'the key given does not open the repository (repository X is encrypted; the key given does not open it), its keyring is missing or damaged, or could not be written or changed meanwhile (nothing changed: run it again)',
    },
    {
      code: 2,
      when: 'REPOSITORY is not an encrypted sendense-run repository; a key file or variable missing, unreadable, not text or shorter than 32 characters; the key to remove is the key given to stay; or a usage error',
    },
  ],
  json: JSON_OUTPUT,
  run: runKey,
});

interface KeyOptions {
  readonly current: KeySource;
  readonly added?: KeySource;
  readonly removed?: KeySource;
}

async function runKey(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  const { action, repository, options } = parseKeyArgs(given);
  // A recovery key is added before the first backup (docs/encryption.md#keys): the repository is
  // made with both keys in its first keyring, so a kill leaves no repository or one both keys open.
  let made = false;
  if (action === 'add' && (await isUnusedRepository(repository))) {
    await createEncryptedRepository(
      repository,
      readKey(options.current),
      options.added === undefined ? [] : [readKey(options.added)],
    );
    made = true;
    crashPoint('key.repository-made');
  }
  await requireEncryptedRepository(repository);
  const current = readKey(options.current);
  if (action === 'list') {
    printList(cli, repository, await listKeyring(repository, current));
  } else if (action === 'add') {
    const newKey = readKey(options.added!);
    const { keyId, added: addedNow } = await addKeyringKey(repository, current, newKey);
    // Made by this command with both keys: the new key was added by it.
    const added = addedNow || made;
    const count = (await listKeyring(repository, newKey)).length;
    out(
      cli,
      { type: 'key-added', repository, keyId, changed: added, keys: count },
      added
        ? `added key ${keyId} to ${repository} (${count} keys open it now)`
        : `the new key is already key ${keyId} of ${repository}: nothing changed (${count} keys open it)`,
    );
  } else {
    const oldKey = readKey(options.removed!);
    if (oldKey === current)
      throw new SendenseError(
        'the key to remove is the key given to stay (--key-file/--key-env): give another key of the repository, one that stays',
        { exitCode: 2 },
      );
    const { removed } = await removeKeyringKey(repository, current, oldKey);
    const count = (await listKeyring(repository, current)).length;
    out(
      cli,
      { type: 'key-removed', repository, keyIds: removed, changed: removed.length > 0, keys: count },
      removed.length > 0
        ? `removed key ${removed.join(', ')} from ${repository} (${count} ${count === 1 ? 'key opens' : 'keys open'} it now)`
        : `the key to remove is not a key of ${repository} (removed already?): nothing changed (${count} ${count === 1 ? 'key opens' : 'keys open'} it)`,
    );
  }
  return 0;
}

// `key ACTION REPOSITORY` and its key options: the one that opens it, and the one add/remove is about.
function parseKeyArgs(given: GivenOptions<typeof OPTIONS>): {
  action: Action;
  repository: string;
  options: KeyOptions;
} {
  type Name = (typeof OPTIONS)[number]['name'];
  const source = (file: Name, env: Name): KeySource | undefined => {
    const [fileValue, envValue] = [given.value(file), given.value(env)];
    if (fileValue !== undefined && envValue !== undefined) throw usageError(`give ${file} or ${env}, not both`);
    if (envValue !== undefined) return { keyEnv: envName(env, envValue) };
    return fileValue === undefined ? undefined : { keyFile: fileValue };
  };
  const current = source('--key-file', '--key-env');
  const added = source('--new-key-file', '--new-key-env');
  const removed = source('--remove-key-file', '--remove-key-env');
  const [action, repository, ...extra] = given.operands;
  if (action === undefined)
    throw usageError('key needs an action: key add|remove|list REPOSITORY (see sendense-run help key)');
  // The word itself is not repeated: it might be a key given in the wrong place.
  if (!isAction(action))
    throw usageError(
      `unknown key action: not add, remove or list${didYouMean(action, ACTIONS)} (see sendense-run help key)`,
    );
  if (repository === undefined)
    throw usageError(`key ${action} needs the repository directory: key ${action} REPOSITORY`);
  // Not repeated either.
  if (extra.length > 0) throw usageError(`key ${action} takes one repository (got ${extra.length + 1} arguments)`);
  if (current === undefined)
    throw usageError(`key ${action} needs a key that opens the repository: --key-file FILE or --key-env NAME`);
  if (action === 'add' && added === undefined)
    throw usageError('key add needs the key to add: --new-key-file FILE or --new-key-env NAME');
  if (action === 'remove' && removed === undefined)
    throw usageError('key remove needs the key to remove: --remove-key-file FILE or --remove-key-env NAME');
  if (action !== 'add' && added !== undefined)
    throw usageError(`--new-key-file/--new-key-env are for key add, not key ${action}`);
  if (action !== 'remove' && removed !== undefined)
    throw usageError(`--remove-key-file/--remove-key-env are for key remove, not key ${action}`);
  return { action, repository: path.resolve(repository), options: { current, added, removed } };
}

function isAction(word: string): word is Action {
  return (ACTIONS as readonly string[]).includes(word);
}

// The name of a variable as a plan's keyEnv takes it, never a key pasted in its place (that one is not repeated).
function envName(option: string, value: string): string {
  if (!/^[A-Z_][A-Z0-9_]*$/.test(value)) {
    throw usageError(
      `${option} takes the NAME of an environment variable (A-Z, 0-9, _, like SENDENSE_REPOSITORY_KEY), not a key: export the key in a variable and name it`,
    );
  }
  return value;
}

// A key that cannot be read, or is no key, is the caller's mistake: exit 2 (the run path says 1).
function readKey(source: KeySource): string {
  // A name as long as a key, and no such variable: perhaps a key given in the name's place (openssl
  // rand -hex 32 looks like a name), so the message does not repeat it.
  if ('keyEnv' in source && source.keyEnv.length >= MIN_KEY_CHARACTERS && !process.env[source.keyEnv]) {
    throw new SendenseError(
      `no environment variable by the name given (${source.keyEnv.length} characters) is set: give the name of the variable that holds the key, not the key`,
      {
        exitCode: 2,
      },
    );
  }
  let key: string;
  try {
    key = readUserKey(source);
  } catch (error) {
    if (error instanceof SendenseError) throw new SendenseError(error.message, { exitCode: 2 });
    throw error;
  }
  addSecret(key);
  return key;
}

// A repository no backup has used yet: no directory, an empty one, or only the keyring of a first
// backup or key add killed before its marker. Any other directory without a marker is not made one.
async function isUnusedRepository(repository: string): Promise<boolean> {
  if ((await readRepositoryMarker(repository)) !== undefined) return false;
  try {
    return (await readdir(repository)).every(
      (name) => name === KEYRING_FILE || name.startsWith(`${KEYRING_FILE}.tmp-`),
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

// The keyring with `key` (the one a keyring left by a killed first run must open) and `moreKeys`,
// written at once, and the marker saying the repository is encrypted, as a first backup with this
// key would make them.
async function createEncryptedRepository(repository: string, key: string, moreKeys: readonly string[]): Promise<void> {
  await makePrivateDirs(repository);
  await createKeyring(repository, key, moreKeys);
  await ensureRepositoryMarker(repository, { encryption: 'luks', compression: 'none' });
}

async function requireEncryptedRepository(repository: string): Promise<void> {
  if (!isDirectory(repository)) throw new SendenseError(`repository ${repository} is not a directory`, { exitCode: 2 });
  const marker = await readRepositoryMarker(repository);
  if (marker === undefined) {
    // A first backup killed between its keyring and its marker: that backup, run again, finishes it.
    const why = keyringExists(repository)
      ? `its first backup did not finish (${keyringPath(repository)} but no ${REPOSITORY_MARKER}): run that backup again first`
      : `no ${REPOSITORY_MARKER} in it`;
    throw new SendenseError(`${repository} is not a sendense-run repository: ${why}`, { exitCode: 2 });
  }
  if (marker.encryption !== 'luks') {
    throw new SendenseError(
      `repository ${repository} is not encrypted (it was created without repository.encryption): it has no keys`,
      { exitCode: 2 },
    );
  }
}

function printList(cli: CliContext, repository: string, entries: readonly KeyringEntry[]): void {
  if (cli.json) {
    for (const entry of entries)
      printJson<KeyLine>(cli, { type: 'key', repository, keyId: entry.id, added: entry.added, given: entry.given });
    return;
  }
  const rows = entries.map((entry) => [entry.id, formatLocalTime(entry.added), entry.given ? '(the key given)' : '']);
  for (const line of formatTable([{ header: 'KEY' }, { header: 'ADDED' }, { header: '' }], rows))
    cli.stdout.write(`${line}\n`);
  const given = entries.find((entry) => entry.given);
  cli.stdout.write(
    `${entries.length} ${entries.length === 1 ? 'key opens' : 'keys open'} ${repository}${given ? `; the key given is ${given.id}` : ''}\n`,
  );
}

// The one line (or JSON object) add and remove end with: their summary, printed with --quiet too.
function out(cli: CliContext, object: KeyLine, text: string): void {
  if (cli.json) printJson(cli, object);
  else cli.stdout.write(`${text}\n`);
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}
