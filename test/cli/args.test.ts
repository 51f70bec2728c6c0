// Options may come before or after the command: the common ones and a command's own ones.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommonArgs } from '../../src/cli/args.js';
import { runCli } from '../plan/run-validate.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const ws = useRunWorkspace('cli-args-');

describe('command line order', () => {
  it('finds the command after a command option and its value', async () => {
    expect(await parseCommonArgs(['--dry-run', 'plan.yaml', '--json'])).toMatchObject({
      command: 'plan.yaml',
      rest: ['--dry-run'],
      json: true,
    });
    expect(await parseCommonArgs(['--vm', 'web01', 'backups'])).toMatchObject({
      command: 'backups',
      rest: ['--vm', 'web01'],
    });
    expect(await parseCommonArgs(['--limit', '5', '--plan', 'nightly', 'history', '--quiet'])).toMatchObject({
      command: 'history',
      rest: ['--limit', '5', '--plan', 'nightly'],
      quiet: true,
    });
    // A value that names a command, or an existing file (a plan's place), is still the value.
    expect(await parseCommonArgs(['--plan', 'run', 'history'])).toMatchObject({
      command: 'history',
      rest: ['--plan', 'run'],
    });
    expect(await parseCommonArgs(['--key-file', 'package.json', 'verify'])).toMatchObject({
      command: 'verify',
      rest: ['--key-file', 'package.json'],
    });
    expect(await parseCommonArgs(['--dry-run', '--metrics-file', 'm.prom', 'plan.yaml'])).toMatchObject({
      command: 'plan.yaml',
      rest: ['--dry-run', '--metrics-file', 'm.prom'],
    });
    expect(await parseCommonArgs(['validate', '--format', 'json', 'a.yaml'])).toMatchObject({
      command: 'validate',
      rest: ['--format', 'json', 'a.yaml'],
    });
  });

  it('validate --format json works with the option first', async () => {
    const plan = path.join(ws.dir, 'p.yaml');
    writeFileSync(plan, 'version: 1\n');
    const result = await runCli(['--format', 'json', 'validate', plan]);
    expect(result.exitCode).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ ok: false, summary: { plans: 1, invalid: 1 } });
  });

  it('an option alone is named as such', async () => {
    const result = await runCli(['--frobnicate']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      "sendense-run: unknown option '--frobnicate', or no command given (see sendense-run --help)\n",
    );
  });
});
