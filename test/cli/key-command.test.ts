// `sendense-run key add|remove|list` on a repository a real encrypted backup made: keys added and
// removed only in its keyring, a removed key no longer restoring, the keyring rewrite surviving a
// kill -9, the refusals, and no key's text in any output, the keyring or the state database.

import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync, type Dirent } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { restoredDifference } from '../restore/restore-plan.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { BIN } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile, sha256, writeDisk } from '../support/vm-disks.js';
import { killAtEnv } from '../../src/crash-points.js';

const MiB = 1024 * 1024;
const [first, last] = portRangeForTestFile();
const ws = useRunWorkspace('cli-key-', { per: 'file' });

interface Result {
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

// Every key's text, and everything any command of this file printed (checked for them at the end).
const keys: Record<'one' | 'two' | 'three', string> = { one: '', two: '', three: '' };
const printed: string[] = [];
let source = '';
let encrypted = '';
let plain = '';

async function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
  const result = await execa(process.execPath, [BIN, ...args], {
    reject: false,
    stripFinalNewline: false,
    env: { CI: '1', ...env },
    timeout: 110_000,
  });
  const out = {
    exitCode: result.exitCode,
    signal: result.signal,
    stdout: String(result.stdout),
    stderr: String(result.stderr),
  };
  printed.push(out.stdout, out.stderr);
  return out;
}

// A key command: never with the state database the runs use (it must need none).
const key = (args: readonly string[], env: Record<string, string> = {}): Promise<Result> =>
  cli(['key', ...args, '--db', path.join(ws.dir, 'key-commands.db')], env);

const keyFile = (name: keyof typeof keys): string => path.join(ws.dir, `${name}.key`);

function keysListed(result: Result): { keyId: string; added: string; given: boolean }[] {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { type: string; keyId: string; added: string; given: boolean })
    .map(({ type, keyId, added, given }) => {
      expect(type).toBe('key');
      return { keyId, added, given };
    });
}

function writePlan(
  name: string,
  repository: string,
  extra: Record<string, unknown>,
  encryptedWith?: keyof typeof keys,
): string {
  const doc = {
    version: 1,
    name,
    ...extra,
    repository: { path: repository, ...(encryptedWith && { encryption: { keyFile: keyFile(encryptedWith) } }) },
    nbd: { ports: `${first}-${last}` },
  };
  const file = path.join(ws.dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

const backupPlan = (name: string, repository: string, encryptedWith?: keyof typeof keys): string =>
  writePlan(
    name,
    repository,
    { kind: 'backup', vm: { name: 'keyvm', source: { type: 'qemu', disks: [{ key: 1, path: source }] } } },
    encryptedWith,
  );

const restorePlan = (name: string, encryptedWith: keyof typeof keys): string =>
  writePlan(
    name,
    encrypted,
    {
      kind: 'restore',
      vm: { name: 'keyvm' },
      restore: {
        point: 'latest',
        target: { type: 'file', path: path.join(ws.dir, `${name}-{key}.qcow2`), format: 'qcow2' },
        verify: true,
      },
    },
    encryptedWith,
  );

// Every file of a directory tree and its sha256.
function contents(dir: string): Record<string, string> {
  const files = (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[]).filter((entry) =>
    entry.isFile(),
  );
  return Object.fromEntries(
    files.map((entry) => [
      path.relative(dir, path.join(entry.parentPath, entry.name)),
      sha256(path.join(entry.parentPath, entry.name)),
    ]),
  );
}

// A repository of its own for a test that changes keys: a copy of the encrypted one as its backup
// left it (its keyring holds key one only).
function copyOfEncrypted(name: string): string {
  const copy = path.join(ws.dir, name);
  cpSync(path.join(ws.dir, 'pristine'), copy, { recursive: true });
  return copy;
}

const temps = (repository: string): string[] =>
  readdirSync(repository).filter((name) => name.startsWith('.sendense-keys.tmp-'));

beforeAll(async () => {
  for (const name of Object.keys(keys) as (keyof typeof keys)[]) {
    keys[name] = randomBytes(32).toString('base64');
    writeFileSync(keyFile(name), `${keys[name]}\n`, { mode: 0o600 });
  }
  source = createDisk(path.join(ws.dir, 'source.qcow2'), 64 * MiB);
  writeDisk(source, ['write -P 0x31 0 4M', 'write -P 0x32 20M 1M', `write -P 0x33 ${64 * MiB - 512} 512`]);
  encrypted = path.join(ws.dir, 'encrypted');
  plain = path.join(ws.dir, 'plain');
  for (const [plan, what] of [
    [backupPlan('encrypted-backup', encrypted, 'one'), 'encrypted'],
    [backupPlan('plain-backup', plain), 'plain'],
  ] as const) {
    const result = await cli([plan, '--db', ws.db]);
    if (result.exitCode !== 0) throw new Error(`the ${what} backup failed:\n${result.stdout}\n${result.stderr}`);
  }
  cpSync(encrypted, path.join(ws.dir, 'pristine'), { recursive: true });
}, 90_000);

describe('key', () => {
  it('lists, adds and removes keys; a removed key no longer restores, a remaining one does', async () => {
    const listed = keysListed(await key(['list', encrypted, '--key-file', keyFile('one'), '--json']));
    expect(listed).toEqual([
      { keyId: expect.stringMatching(/^k-[0-9a-f]{8}$/), added: expect.any(String), given: true },
    ]);
    const only = listed[0]!;
    expect(Date.parse(only.added)).not.toBeNaN();

    const added = await key(['add', encrypted, '--key-file', keyFile('one'), '--new-key-file', keyFile('two')]);
    expect(added.exitCode, added.stderr).toBe(0);
    expect(added.stdout).toMatch(new RegExp(`^added key k-[0-9a-f]{8} to ${encrypted} \\(2 keys open it now\\)\n$`));
    // Again (a re-run after a crash): said so, nothing changed.
    const before = readFileSync(path.join(encrypted, '.sendense-keys'));
    const repeated = await key(['add', encrypted, '--key-env', 'KEY_ONE', '--new-key-env', 'KEY_TWO', '--json'], {
      KEY_ONE: keys.one,
      KEY_TWO: keys.two,
    });
    const [again] = keysAddedOrRemoved(repeated);
    expect(again).toMatchObject({ type: 'key-added', repository: encrypted, changed: false, keys: 2 });
    expect(readFileSync(path.join(encrypted, '.sendense-keys'))).toEqual(before);

    const both = keysListed(await key(['list', encrypted, '--key-file', keyFile('two'), '--json']));
    expect(both).toEqual([
      { ...only, given: false },
      { keyId: again.keyId, added: expect.any(String), given: true },
    ]);
    const human = await key(['list', encrypted, '--key-file', keyFile('two')]);
    expect(human.stdout).toContain(`${again.keyId}  `);
    expect(human.stdout).toMatch(new RegExp(`${again.keyId} .*\\(the key given\\)\n`));
    expect(human.stdout).toContain(`2 keys open ${encrypted}; the key given is ${again.keyId}\n`);

    const removed = await key([
      'remove',
      encrypted,
      '--key-file',
      keyFile('two'),
      '--remove-key-file',
      keyFile('one'),
      '--json',
    ]);
    expect(keysAddedOrRemoved(removed)).toEqual([
      { type: 'key-removed', repository: encrypted, keyIds: [only.keyId], changed: true, keys: 1 },
    ]);
    const removedAgain = await key([
      'remove',
      encrypted,
      '--key-file',
      keyFile('two'),
      '--remove-key-file',
      keyFile('one'),
    ]);
    expect(removedAgain).toMatchObject({
      exitCode: 0,
      stdout: `the key to remove is not a key of ${encrypted} (removed already?): nothing changed (1 key opens it)\n`,
    });
    expect(keysListed(await key(['list', encrypted, '--key-file', keyFile('two'), '--json']))).toEqual([both[1]]);
    const gone = await key(['list', encrypted, '--key-file', keyFile('one')]);
    expect(gone).toMatchObject({
      exitCode: 1,
      stdout: '',
      stderr: `sendense-run: repository ${encrypted} is encrypted; the key given does not open it\n`,
    });

    // A restore with the removed key: one line, and nothing made or changed.
    const repositoryBefore = contents(encrypted);
    const refused = await cli([restorePlan('restore-old-key', 'one'), '--db', ws.db]);
    expect(refused.exitCode, `${refused.stdout}\n${refused.stderr}`).toBe(1);
    expect(refused.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(
        new RegExp(`failed .*repository ${encrypted} is encrypted; the key given does not open it$`),
      ),
    ]);
    expect(`${refused.stdout}${refused.stderr}`).not.toMatch(/\n\s+at /);
    expect(existsSync(path.join(ws.dir, 'restore-old-key-1.qcow2'))).toBe(false);
    expect(contents(encrypted)).toEqual(repositoryBefore);

    const restored = await cli([restorePlan('restore-new-key', 'two'), '--db', ws.db]);
    expect(restored.exitCode, `${restored.stdout}\n${restored.stderr}`).toBe(0);
    expect(restoredDifference(source, path.join(ws.dir, 'restore-new-key-1.qcow2'), 'qcow2')).toBe('');
  });

  it('refuses removing the key that stays, a short key, and a repository that is not encrypted', async () => {
    const repository = copyOfEncrypted('refusals');
    const before = contents(repository);
    const self = await key(['remove', repository, '--key-file', keyFile('one'), '--remove-key-file', keyFile('one')]);
    expect(self).toMatchObject({ exitCode: 2, stdout: '' });
    expect(self.stderr).toMatch(/^sendense-run: the key to remove is the key given to stay .*\n$/);

    const short = path.join(ws.dir, 'short.key');
    writeFileSync(short, 'too-short-a-key\n', { mode: 0o600 });
    const shortAdd = await key(['add', repository, '--key-file', keyFile('one'), '--new-key-file', short]);
    expect(shortAdd).toMatchObject({
      exitCode: 2,
      stderr: `sendense-run: key file ${short} holds 15 characters; a repository key must be at least 32 random characters (make one with: openssl rand -base64 32)\n`,
    });
    const missing = await key(['list', repository, '--key-env', 'NO_SUCH_KEY_VARIABLE']);
    expect(missing).toMatchObject({
      exitCode: 2,
      stderr:
        'sendense-run: environment variable NO_SUCH_KEY_VARIABLE is not set (it should hold the repository key)\n',
    });
    expect(contents(repository)).toEqual(before);

    const notEncrypted = await key(['list', plain, '--key-file', keyFile('one')]);
    expect(notEncrypted).toMatchObject({
      exitCode: 2,
      stderr: `sendense-run: repository ${plain} is not encrypted (it was created without repository.encryption): it has no keys\n`,
    });
    const notRepository = await key(['add', ws.dir, '--key-file', keyFile('one'), '--new-key-file', keyFile('two')]);
    expect(notRepository).toMatchObject({
      exitCode: 2,
      stderr: `sendense-run: ${ws.dir} is not a sendense-run repository: no .sendense-repository in it\n`,
    });
    const usage = await key(['add', repository, '--key-file', keyFile('one')]);
    expect(usage).toMatchObject({
      exitCode: 2,
      stderr: 'sendense-run: key add needs the key to add: --new-key-file FILE or --new-key-env NAME\n',
    });
    // A key pasted where a variable's name belongs is not repeated.
    const pasted = await key(['list', repository, '--key-env', keys.one]);
    expect(pasted.exitCode).toBe(2);
    // One that could be a variable's name: no such variable, and the name is not repeated either.
    const nameLike = `K${randomBytes(32).toString('hex').toUpperCase()}`;
    const pastedNameLike = await key(['list', repository, '--key-env', nameLike, '--json']);
    expect(pastedNameLike.exitCode).toBe(2);
    expect(pastedNameLike.stderr).toMatch(
      /^sendense-run: no environment variable by the name given \(65 characters\) is set/,
    );
    expect(`${pastedNameLike.stdout}${pastedNameLike.stderr}`).not.toContain(nameLike);
  });

  it('a key add killed before its keyring is in place: the old keyring works, a re-run finishes it', async () => {
    const repository = copyOfEncrypted('killed-add');
    const killed = await key(['add', repository, '--key-file', keyFile('one'), '--new-key-file', keyFile('three')], {
      ...killAtEnv('key.keyring-written'),
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(temps(repository)).toHaveLength(1);
    expect(keysListed(await key(['list', repository, '--key-file', keyFile('one'), '--json']))).toHaveLength(1);
    expect((await key(['list', repository, '--key-file', keyFile('three')])).exitCode).toBe(1);

    const finished = await key(['add', repository, '--key-file', keyFile('one'), '--new-key-file', keyFile('three')]);
    expect(finished.exitCode, finished.stderr).toBe(0);
    expect(finished.stdout).toMatch(/^added key /);
    expect(temps(repository)).toEqual([]);
    expect(
      keysListed(await key(['list', repository, '--key-file', keyFile('one'), '--json'])).map((entry) => entry.given),
    ).toEqual([true, false]);
    expect(
      keysListed(await key(['list', repository, '--key-file', keyFile('three'), '--json'])).map((entry) => entry.given),
    ).toEqual([false, true]);
  });

  it('a key remove killed before its keyring is in place: both keys still work, a re-run finishes it', async () => {
    const repository = copyOfEncrypted('killed-remove');
    expect(
      (await key(['add', repository, '--key-file', keyFile('one'), '--new-key-file', keyFile('three')])).exitCode,
    ).toBe(0);
    const killed = await key(
      ['remove', repository, '--key-file', keyFile('three'), '--remove-key-file', keyFile('one')],
      killAtEnv('key.keyring-written'),
    );
    expect(killed.signal).toBe('SIGKILL');
    expect(temps(repository)).toHaveLength(1);
    expect(keysListed(await key(['list', repository, '--key-file', keyFile('one'), '--json']))).toHaveLength(2);
    expect(keysListed(await key(['list', repository, '--key-file', keyFile('three'), '--json']))).toHaveLength(2);

    const finished = await key([
      'remove',
      repository,
      '--key-file',
      keyFile('three'),
      '--remove-key-file',
      keyFile('one'),
    ]);
    expect(finished.exitCode, finished.stderr).toBe(0);
    expect(finished.stdout).toMatch(/^removed key /);
    expect(temps(repository)).toEqual([]);
    expect((await key(['list', repository, '--key-file', keyFile('one')])).exitCode).toBe(1);
    expect(keysListed(await key(['list', repository, '--key-file', keyFile('three'), '--json']))).toEqual([
      expect.objectContaining({ given: true }),
    ]);
  });

  it('key add before the first backup killed once the repository is made: both keys open it (never the first alone), a re-run changes nothing', async () => {
    const repository = path.join(ws.dir, 'killed-first', 'repository');
    const killed = await key(['add', repository, '--key-file', keyFile('one'), '--new-key-file', keyFile('three')], {
      ...killAtEnv('key.repository-made'),
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(
      keysListed(await key(['list', repository, '--key-file', keyFile('three'), '--json'])).map((entry) => entry.given),
    ).toEqual([false, true]);
    const again = await key(['add', repository, '--key-file', keyFile('one'), '--new-key-file', keyFile('three')]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(`^the new key is already key k-[0-9a-f]{8} of ${repository}: nothing changed \\(2 keys open it\\)\n$`),
    );
  });

  it('key add before the first backup (docs/encryption.md#keys): the repository is made with both keys; backed up with one, restored with the other', async () => {
    const repository = path.join(ws.dir, 'first', 'repository');
    const added = await key(['add', repository, '--key-file', keyFile('one'), '--new-key-file', keyFile('three')]);
    expect(added.exitCode, added.stderr).toBe(0);
    expect(added.stdout).toMatch(new RegExp(`^added key k-[0-9a-f]{8} to ${repository} \\(2 keys open it now\\)\n$`));
    expect(keysListed(await key(['list', repository, '--key-file', keyFile('three'), '--json']))).toHaveLength(2);

    const backedUp = await cli([backupPlan('first-backup', repository, 'one'), '--db', path.join(ws.dir, 'first.db')]);
    expect(backedUp.exitCode, `${backedUp.stdout}\n${backedUp.stderr}`).toBe(0);
    const restore = writePlan(
      'first-restore',
      repository,
      {
        kind: 'restore',
        vm: { name: 'keyvm' },
        restore: {
          point: 'latest',
          target: { type: 'file', path: path.join(ws.dir, 'first-restore-{key}.qcow2'), format: 'qcow2' },
          verify: true,
        },
      },
      'three',
    );
    const restored = await cli([restore, '--db', path.join(ws.dir, 'first.db')]);
    expect(restored.exitCode, `${restored.stdout}\n${restored.stderr}`).toBe(0);
    expect(restoredDifference(source, path.join(ws.dir, 'first-restore-1.qcow2'), 'qcow2')).toBe('');
  });

  // Last: after every other test of this file has printed what it printed.
  it("no key's text in any output, keyring or state database; the key commands made no database", () => {
    expect(printed.length).toBeGreaterThan(20);
    const stored = [
      ...['encrypted', 'refusals', 'killed-add', 'killed-remove', 'first/repository'].map((name) =>
        path.join(ws.dir, name, '.sendense-keys'),
      ),
      ...readdirSync(ws.dir)
        .filter((name) => name.startsWith('state.db'))
        .map((name) => path.join(ws.dir, name)),
    ];
    expect(stored.filter((file) => file.includes('state.db'))).not.toEqual([]);
    for (const text of Object.values(keys)) {
      expect(printed.filter((output) => output.includes(text))).toEqual([]);
      for (const file of stored) expect(readFileSync(file).includes(Buffer.from(text)), file).toBe(false);
    }
    expect(existsSync(path.join(ws.dir, 'key-commands.db'))).toBe(false);
  });
});

interface KeyChange {
  readonly type: string;
  readonly keyId?: string;
  readonly keyIds?: readonly string[];
}

function keysAddedOrRemoved(result: Result): KeyChange[] {
  expect(result.exitCode, result.stderr).toBe(0);
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as KeyChange);
}
