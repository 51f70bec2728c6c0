// Every example in the docs is true: plans pass `sendense-run validate`, `sendense-run ...` lines
// name a real command with only options its help lists (and `validate` lines pass for real),
// YAML fragments parse, JSON lines parse. A block is told apart by the `<!-- docs-test: ... -->`
// line above it: `fragment` (YAML that is not a whole plan), `env NAME=VALUE ...` (a plan's
// ${NAME} references), `invalid: TEXT` (a plan shown as a mistake: validate fails saying TEXT).

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { optionNames } from '../../src/cli/command-help.js';
import { valueOptionNames } from '../../src/cli/command-options.js';
import { loadAllCommands } from '../../src/cli/commands.js';
import { runCli } from '../plan/run-validate.js';
import { docBlocks, docFiles, sendenseCommands, type DocBlock } from './doc-blocks.js';

const blocks = docFiles().flatMap(docBlocks);
const where = (block: DocBlock) => `${block.file}:${block.line}`;
const temp = mkdtempSync(path.join(os.tmpdir(), 'sendense-docs-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

// Common options and their short forms (src/cli/args.ts), accepted by every command.
const COMMON_FLAGS = new Set(['--db', '--json', '--quiet', '-q', '--help', '-h', '--version', '-V']);
const COMMON_VALUES = new Set(['--db']);
const COMMANDS = new Map((await loadAllCommands()).map((command) => [command.name, command]));
const COMMAND_VALUES = valueOptionNames([...COMMANDS.values()]);

describe('code blocks in the docs', () => {
  it('finds the blocks (README.md and docs/)', () => {
    expect(blocks.filter((block) => block.lang === 'yaml').length).toBeGreaterThan(10);
    expect(blocks.filter((block) => block.lang === 'sh').length).toBeGreaterThan(3);
  });

  const yamlBlocks = blocks.filter((block) => block.lang === 'yaml');
  it.each(yamlBlocks.map((block) => [where(block), block] as const))(
    'yaml %s is a valid plan or a marked fragment',
    async (_, block) => {
      const parsed = parseYaml(block.text) as unknown;
      if (block.marker === 'fragment') return;
      expect(
        parsed,
        `${where(block)}: a YAML block that is not a plan needs <!-- docs-test: fragment --> above it`,
      ).toMatchObject({ version: 1 });
      const file = path.join(temp, `${path.basename(block.file, '.md')}-${block.line}.yaml`);
      writeFileSync(file, `${block.text}\n`);
      const env = block.marker?.startsWith('env ')
        ? Object.fromEntries(
            block.marker
              .slice(4)
              .trim()
              .split(/\s+/)
              .map((pair) => pair.split('=', 2) as [string, string]),
          )
        : {};
      const saved = Object.fromEntries(Object.keys(env).map((name) => [name, process.env[name]]));
      Object.assign(process.env, env);
      try {
        const result = await runCli(['validate', '--format', 'json', file]);
        const report = JSON.parse(result.stdout) as {
          ok: boolean;
          files: { errors: { message: string }[]; warnings: { message: string }[] }[];
        };
        const messages = report.files.flatMap((f) => [...f.errors, ...f.warnings].map((d) => d.message));
        if (block.marker?.startsWith('invalid: ')) {
          expect(result.exitCode, where(block)).toBe(2);
          expect(messages.join('\n')).toContain(block.marker.slice('invalid: '.length));
          return;
        }
        expect({ exitCode: result.exitCode, messages }, where(block)).toEqual({
          exitCode: 0,
          messages: expect.any(Array),
        });
        // A ${NAME} the block does not declare would only be found at run time.
        expect(
          messages.filter((message) => message.includes('is not set')),
          `${where(block)}: declare env with <!-- docs-test: env NAME=VALUE -->`,
        ).toEqual([]);
      } finally {
        for (const [name, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
        }
      }
    },
  );

  const commands = blocks
    .filter((block) => block.lang === 'sh' || block.lang === 'bash')
    .flatMap((block) =>
      sendenseCommands(block.text).map((argv) => [`${where(block)}: sendense-run ${argv.join(' ')}`, argv] as const),
    );
  it('finds sendense-run commands in the shell blocks', () => {
    expect(commands.length).toBeGreaterThan(10);
  });

  it.each(commands)('%s: a real command, options from its help', async (_, argv) => {
    const positional: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i];
      if (arg.startsWith('-')) {
        if (COMMON_VALUES.has(arg) || COMMAND_VALUES.has(arg)) i++;
      } else positional.push(arg);
    }
    const first = positional[0];
    if (first === undefined && (argv.includes('--version') || argv.includes('--help'))) {
      expect((await runCli(argv)).exitCode).toBe(0);
      return;
    }
    const command =
      first === undefined
        ? undefined
        : COMMANDS.has(first) || first === 'help'
          ? first
          : /\.ya?ml$/.test(first)
            ? 'run'
            : undefined;
    expect(command, `'${first}' is not a command or a plan file`).toBeDefined();
    const known = new Set([...optionNames(COMMANDS.get(command!) ?? { options: [] }), ...COMMON_FLAGS]);
    for (const option of argv.filter((arg) => arg.startsWith('-'))) {
      expect(
        known.has(option.split('=')[0]),
        `${option} is not an option of ${command} (see sendense-run help ${command})`,
      ).toBe(true);
    }
    if (command === 'validate' && !argv.includes('--help') && positional.slice(1).every((file) => existsSync(file))) {
      // Safe to run for real: it only reads the plans (paths in the checkout).
      const result = await runCli(argv);
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
    } else {
      // Everything else runs as far as the CLI's parsing: with --help it prints that command's usage.
      const result = await runCli([...argv, '--help']);
      expect(result.exitCode).toBe(0);
      // Under --json, help is one JSON object (docs/json-events.md#help---json).
      expect(result.stdout).toMatch(argv.includes('--json') ? /^\{"type":"help","command":/ : /^Usage: sendense-run /);
    }
  });

  const jsonLines = blocks
    .filter((block) => block.lang === 'json')
    .flatMap((block) =>
      block.text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => [where(block), line] as const),
    );
  it.each(jsonLines)('json %s: each line is one JSON object', (_, line) => {
    expect(typeof JSON.parse(line)).toBe('object');
  });
});
