// --key-file / --key-env (src/cli/key-option.ts): at most one, once, checked at the edge (a key
// that cannot be read is a usage error, exit 2), and never repeated in an error, even when what was
// given looks like the key itself; the command's other arguments are left as they were.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommonArgs } from '../../src/cli/args.js';
import { declareOptions, parseCommandOptions } from '../../src/cli/command-options.js';
import { KEY_OPTIONS, keyOption } from '../../src/cli/key-option.js';
import { SendenseError } from '../../src/errors.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const ws = useRunWorkspace('key-option-');
const KEY = randomBytes(32).toString('base64');

afterEach(() => {
  delete process.env.KEY_OPTION_TEST;
});

// A command with the key options and one of its own, as verify or files declares them.
const COMMAND = { name: 'test', options: declareOptions([...KEY_OPTIONS, { name: '--point', value: 'P', help: '' }]) };

function takeKeyOption(args: readonly string[]): { key?: unknown; rest: readonly string[] } {
  const given = parseCommandOptions(args, COMMAND);
  const key = keyOption(given);
  return key === undefined ? { rest: given.operands } : { key, rest: given.operands };
}

function refusal(args: readonly string[]): SendenseError {
  try {
    takeKeyOption(args);
  } catch (error) {
    expect(error).toBeInstanceOf(SendenseError);
    expect((error as SendenseError).exitCode).toBe(2);
    expect((error as SendenseError).message).not.toContain(KEY);
    return error as SendenseError;
  }
  throw new Error(`takeKeyOption(${args.join(' ')}) did not refuse`);
}

describe('the key options', () => {
  it('take a key file (made absolute) or a variable, and leave the rest', () => {
    const file = path.join(ws.dir, 'repo.key');
    writeFileSync(file, `${KEY}\n`, { mode: 0o600 });
    expect(takeKeyOption(['vm1', `--key-file=${file}`, '--point', 'latest'])).toEqual({
      key: { keyFile: file },
      rest: ['vm1'],
    });
    process.env.KEY_OPTION_TEST = KEY;
    expect(takeKeyOption(['--key-env', 'KEY_OPTION_TEST', 'vm1'])).toEqual({
      key: { keyEnv: 'KEY_OPTION_TEST' },
      rest: ['vm1'],
    });
    expect(takeKeyOption(['vm1'])).toEqual({ rest: ['vm1'] });
  });

  it('refuse both, one twice, a missing or short key, in one line that never holds the key', () => {
    const file = path.join(ws.dir, 'repo.key');
    writeFileSync(file, KEY, { mode: 0o600 });
    process.env.KEY_OPTION_TEST = KEY;
    expect(refusal(['--key-file', file, '--key-env', 'KEY_OPTION_TEST']).message).toBe(
      'give --key-file or --key-env, not both',
    );
    expect(refusal(['--key-file', file, '--key-file', file]).message).toMatch(/--key-file is given twice/);
    expect(refusal(['--key-file', path.join(ws.dir, 'none')]).message).toMatch(
      /cannot read key file .*none: no such file/,
    );
    writeFileSync(path.join(ws.dir, 'short'), 'short');
    expect(refusal(['--key-file', path.join(ws.dir, 'short')]).message).toMatch(
      /holds 5 characters; a repository key must be at least 32/,
    );
    expect(refusal(['--key-env', 'KEY_OPTION_UNSET']).message).toMatch(
      /--key-env KEY_OPTION_UNSET: the environment variable is not set/,
    );
    expect(refusal(['--key-file'])).toBeDefined();
    // The key itself where its file or variable's name belongs.
    expect(refusal(['--key-env', KEY]).message).toMatch(/needs the NAME of an environment variable/);
    // A name of the key's length (a random key may start with a digit, which no name does: K first).
    expect(refusal(['--key-env', `K${KEY.replace(/[^A-Za-z0-9]/g, 'x')}`]).message).toMatch(/not repeated here/);
    expect(refusal(['--key-file', KEY.replace(/^[/.~]/, 'x')]).message).toMatch(/not repeated here/);
  });

  it('may come before the command, with their value', async () => {
    expect(await parseCommonArgs(['--key-file', '/k', 'verify', '--vm', 'a'])).toMatchObject({
      command: 'verify',
      rest: ['--key-file', '/k', '--vm', 'a'],
    });
    expect(await parseCommonArgs(['--key-env', 'K', 'files', 'vm1'])).toMatchObject({
      command: 'files',
      rest: ['--key-env', 'K', 'vm1'],
    });
  });
});
