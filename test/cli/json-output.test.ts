// --json: every line on stdout is one JSON object, also when the command stops on a user error
// (that error is one {"type":"error"} object, besides the usual line on stderr), for --version,
// help and schema.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../plan/run-validate.js';
import { useRunWorkspace } from '../support/run-workspace.js';

const ws = useRunWorkspace('cli-json-');

const jsonLines = (stdout: string): unknown[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as unknown);

describe('--json', () => {
  it('--version is one object', async () => {
    const result = await runCli(['--version', '--json']);
    expect(result.exitCode).toBe(0);
    expect(jsonLines(result.stdout)).toEqual([
      {
        type: 'version',
        name: 'sendense-run',
        version: expect.stringMatching(/^\d+\.\d+\.\d+/),
        node: process.versions.node,
      },
    ]);
  });

  it('--version without --json names the package version and the Node.js it runs on', async () => {
    const result = await runCli(['--version']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^sendense-run \d+\.\d+\.\d+\S* \(Node\.js [^)]+\)\n$/);
    expect(result.stdout).toContain(`(Node.js ${process.versions.node})`);
  });

  it('a plan error of a run is one error object with its place, and one line on stderr', async () => {
    const plan = path.join(ws.dir, 'plan.yaml');
    writeFileSync(plan, 'version: 1\nkind: backup\nname: Bad_Name\n');
    const result = await runCli(['run', plan, '--json', '--db', path.join(ws.dir, 'state.db')]);
    expect(result.exitCode).toBe(2);
    const [first] = jsonLines(result.stdout);
    expect(jsonLines(result.stdout)).toHaveLength(1);
    expect(first).toMatchObject({ type: 'error', file: plan, line: 1, column: 1, exitCode: 2 });
    expect(result.stderr.split('\n')).toHaveLength(2);
  });

  it('a usage error and a missing state database keep stdout JSON only', async () => {
    const usage = await runCli(['--json', 'history', '--limit', 'lots']);
    expect(usage.exitCode).toBe(2);
    expect(jsonLines(usage.stdout)).toEqual([
      { type: 'error', message: "--limit must be a positive whole number (got 'lots')", exitCode: 2 },
    ]);
    const none = await runCli(['--json']);
    expect(none.exitCode).toBe(2);
    expect(jsonLines(none.stdout)).toEqual([
      { type: 'error', message: 'no command given (see sendense-run --help)', exitCode: 2 },
    ]);
    const missing = await runCli(['--json', 'backups', '--db', path.join(ws.dir, 'none.db')]);
    expect(missing.exitCode).toBe(0);
    expect(missing.stdout).toBe('');
  });

  it('help, --help and schema are one object each: what the text shows, as data', async () => {
    const overview = await runCli(['--help', '--json']);
    expect(overview.exitCode).toBe(0);
    const [top] = jsonLines(overview.stdout) as [{ type: string; commands: { name: string; synopsis: string }[] }];
    expect(jsonLines(overview.stdout)).toHaveLength(1);
    expect(top.type).toBe('help');
    expect(top.commands.map((command) => command.name)).toEqual(
      expect.arrayContaining(['run', 'forget', 'protect', 'unprotect', 'help']),
    );
    expect((await runCli(['help', '--json'])).stdout).toBe(overview.stdout);

    for (const args of [
      ['help', 'forget', '--json'],
      ['forget', '--help', '--json'],
    ]) {
      const result = await runCli(args);
      expect(result.exitCode).toBe(0);
      expect(jsonLines(result.stdout)).toEqual([
        {
          type: 'help',
          command: 'forget',
          usage: expect.stringMatching(/^sendense-run forget VM /),
          does: expect.any(String),
          options: expect.arrayContaining([
            { name: '--point', value: 'ID', help: expect.any(String) },
            { name: '--dry-run', help: expect.any(String) },
          ]),
          commonOptions: expect.arrayContaining([{ name: '--json', help: expect.any(String) }]),
          exitCodes: expect.arrayContaining([{ code: 2, when: expect.any(String) }]),
        },
      ]);
    }

    const schema = await runCli(['schema', '--json']);
    expect(schema.exitCode).toBe(0);
    const [document] = jsonLines(schema.stdout) as [
      { type: string; path: string; schema: { properties: Record<string, unknown> } },
    ];
    expect(jsonLines(schema.stdout)).toHaveLength(1);
    expect(document).toMatchObject({ type: 'schema', path: expect.stringMatching(/plan\.schema\.json$/) });
    expect(Object.keys(document.schema.properties)).toEqual(expect.arrayContaining(['version', 'kind', 'name']));
  });
});
