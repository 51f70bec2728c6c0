// docs/plan-reference.md, docs/commands.md and the made parts of docs/api.md and docs/json-events.md
// are what scripts/gen-docs.js makes of the current schema, CLI, routes, run events and each
// command's --json declaration (run
// `npm run docs` when this fails), and commands.md shows exactly what the built CLI prints for
// `help CMD`.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module without type declarations
import { DESCRIBED_KEYWORDS, generateDocs, planReference, schemaKeywords } from '../../scripts/gen-docs.js';
import { commandHelp } from '../../src/cli/command-help.js';
import { loadAllCommands } from '../../src/cli/commands.js';
import { USAGE } from '../../src/cli/overview.js';
import { apiReference } from '../../src/api/api-reference.js';
import { RUN_EVENT_DOCS } from '../../src/engine/run-event-docs.js';

const ROOT = path.resolve('.');
const COMMANDS = await loadAllCommands();
const generated = generateDocs(ROOT, {
  COMMANDS,
  commandHelp,
  USAGE,
  apiReference,
  runEventDocs: RUN_EVENT_DOCS,
}) as Record<string, string>;
const BIN = path.resolve('bin/sendense-run.js');

describe('generated docs', () => {
  it.each(Object.keys(generated))('%s is up to date (else: npm run docs)', (file) => {
    expect(
      readFileSync(file, 'utf8') === generated[file],
      `${file} is out of date: run \`npm run docs\` and commit it`,
    ).toBe(true);
  });

  it('the plan reference has a section and an example for every key of the schema', () => {
    const reference = generated['docs/plan-reference.md'];
    const schema = JSON.parse(readFileSync('schemas/plan.schema.json', 'utf8')) as {
      properties: Record<string, unknown>;
      definitions: Record<string, { properties?: Record<string, unknown> }>;
    };
    for (const key of Object.keys(schema.properties)) expect(reference).toContain(`### \`${key}\``);
    for (const [name, definition] of Object.entries(schema.definitions)) {
      for (const key of Object.keys(definition.properties ?? {})) {
        expect(reference, `key ${key} of definitions/${name}`).toMatch(new RegExp(`### \`[^\`]*\\b${key}\``));
      }
    }
    for (const section of reference.split(/\n(?=### `)/).slice(1)) {
      expect(section, section.split('\n')[0]).toContain('```yaml');
    }
  });

  it('the generator puts every keyword the schema uses into words (else: teach scripts/gen-docs.js)', () => {
    const schema = JSON.parse(readFileSync('schemas/plan.schema.json', 'utf8')) as unknown;
    expect([...(schemaKeywords(schema) as Set<string>)].filter((keyword) => !DESCRIBED_KEYWORDS.has(keyword))).toEqual(
      [],
    );
  });

  it('explains oneOf / anyOf / not and if-then variants', () => {
    const schema = {
      properties: {
        version: { const: 1 },
        kind: { enum: ['a', 'b'] },
        keep: {
          type: 'object',
          properties: { chains: { type: 'integer', minimum: 1 }, last: { type: 'integer', maximum: 9 } },
          oneOf: [{ required: ['chains'] }, { anyOf: [{ required: ['last'] }] }],
          not: { required: ['chains', 'last'] },
        },
        extra: { type: 'string' },
      },
      allOf: [
        { if: { properties: { kind: { const: 'b' } } }, then: { required: ['extra'], properties: { keep: false } } },
      ],
    };
    const text = planReference(schema, []) as string;
    expect(text).toContain('| exactly one of | with `chains`; any of (with `last`) |');
    expect(text).toContain('| must not be | with `chains` and `last` |');
    expect(text).toContain('## When `kind` is `b`\n\nRequired: `extra`.\nNot allowed: `keep`.');
    expect(text).toContain('| allowed only when | `kind` is `a` |');
    expect(text).toContain('| range | at most 9 |');
  });

  it('every schema in schemas/ gets its reference (schemas/NAME.schema.json -> docs/NAME-reference.md)', () => {
    const names = readdirSync('schemas')
      .filter((file) => file.endsWith('.schema.json'))
      .map((file) => `docs/${file.replace('.schema.json', '')}-reference.md`);
    expect(
      Object.keys(generated)
        .filter((file) => file.endsWith('-reference.md'))
        .sort(),
    ).toEqual(names.sort());
    const hub = planReference(
      {
        title: 'Hub configuration',
        type: 'object',
        properties: { maxParallelDisks: { type: 'integer', minimum: 1, default: 16 } },
      },
      [],
      'hub',
    ) as string;
    expect(hub).toMatch(/^# Hub configuration: reference\n/);
    expect(hub).toContain('### `maxParallelDisks`');
    expect(hub).toContain('```yaml\nmaxParallelDisks: 16\n```');
  });

  it("json-events.md has every command's --json section, a row for each line its declaration names", () => {
    const doc = generated['docs/json-events.md'];
    for (const { name, json } of COMMANDS) {
      const heading = json.heading ?? `\`${name} --json\``;
      expect(doc, name).toMatch(new RegExp(`^## .*${heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
      const section = doc.slice(doc.indexOf(heading));
      for (const line of Object.keys(json.lines.lines))
        expect(section, `${name}: ${line}`).toContain(json.lines.typed ? `| \`${line}\` |` : `| ${line} |`);
    }
  });

  it('every command has its exit codes written down', () => {
    expect(COMMANDS.filter((command) => command.exitCodes.length === 0).map((command) => command.name)).toEqual([]);
  });

  it('commands.md holds what the built CLI prints for --help and for help CMD, for every command', () => {
    expect(existsSync('dist/cli/main.js'), 'run `npm run build` first').toBe(true);
    const doc = readFileSync('docs/commands.md', 'utf8');
    const cli = (...args: string[]) => execFileSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
    expect(doc).toContain(`\`\`\`text\n${cli('--help')}\`\`\``);
    for (const { name: command } of COMMANDS) {
      const printed = cli('help', command);
      expect(
        doc.includes(`\`\`\`text\n${printed}\`\`\``),
        `help ${command} differs from docs/commands.md (npm run docs)`,
      ).toBe(true);
      expect(cli(command, '--help')).toBe(printed);
    }
  });
});
