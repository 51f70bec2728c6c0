// A command's options as its declaration says (src/cli/command-options.ts): anywhere among the
// operands, `--name value` or `--name=value`, a list option up to the next option, and an unknown
// one refused in one line that names the nearest and never what followed its `=`.

import { describe, expect, it } from 'vitest';
import { declareOptions, parseCommandOptions } from '../../src/cli/command-options.js';
import { SendenseError } from '../../src/errors.js';

const OPTIONS = declareOptions([
  { name: '--point', value: 'ID', repeatable: true, help: 'a point (repeatable)' },
  { name: '--to', value: 'DIR', help: 'where' },
  { name: '--get', value: 'PATH', list: true, help: 'paths (repeatable)' },
  { name: '--dry-run', help: 'only say' },
]);
const COMMAND = { name: 'demo', options: OPTIONS };
const parse = (args: readonly string[]) => parseCommandOptions(args, COMMAND);

function refusal(args: readonly string[]): string {
  try {
    parse(args);
  } catch (error) {
    expect(error).toBeInstanceOf(SendenseError);
    expect((error as SendenseError).exitCode).toBe(2);
    return (error as SendenseError).message;
  }
  throw new Error(`${args.join(' ')} was not refused`);
}

describe('command options', () => {
  it('are taken from anywhere, with their values; the rest are operands in order', () => {
    const given = parse(['vm1', '--point', 'a', '--dry-run', '--point=b', 'x', '--to', 'd', '--to=e']);
    expect(given.operands).toEqual(['vm1', 'x']);
    expect(given.values('--point')).toEqual(['a', 'b']);
    expect(given.value('--to')).toBe('e');
    expect(given.flag('--dry-run')).toBe(true);
    expect(given.named).toEqual(['--point', '--dry-run', '--point', '--to', '--to']);
    expect(parse([]).flag('--dry-run')).toBe(false);
    expect(parse([]).value('--to')).toBeUndefined();
  });

  it('a list option takes the words after it up to the next option', () => {
    const given = parse(['vm1', '--get', 'p1:/a', 'p1:/b', '--to', 'd', 'p2:/c', '--get=p3:/d', 'p3:/e']);
    expect(given.values('--get')).toEqual(['p1:/a', 'p1:/b', 'p3:/d', 'p3:/e']);
    expect(given.operands).toEqual(['vm1', 'p2:/c']);
  });

  it('refuses an unknown option, a missing value and a flag given a value, in one line', () => {
    expect(refusal(['--dry-rnu'])).toBe(
      "unknown option '--dry-rnu' for 'demo' (did you mean '--dry-run'?) (see sendense-run help demo)",
    );
    // Only the name: what followed `=` may be a secret typed into the wrong option.
    expect(refusal(['--key=s3cr3t-value'])).not.toContain('s3cr3t');
    expect(refusal(['--jsn'])).toContain("(did you mean '--json'?)");
    expect(refusal(['vm1', '--to'])).toBe('--to needs a value');
    expect(refusal(['--dry-run=yes'])).toBe('--dry-run takes no value (see sendense-run help demo)');
  });
});
