// `sendense-run schema [--path | --install PLAN...]`: the plan JSON Schema this installation checks
// plans with, or (--path) where it is, or (--install) an editor modeline in plans pointing at it
// (docs/commands.md#schema), for plans kept outside the checkout.

import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { SendenseError, usageError } from '../errors.js';
import { planSchemaFile } from '../plan/plan-schema.js';
import { withSchemaModeline } from '../plan/schema-modeline.js';
import { defineCommand, type CommandSpec, USAGE_ERROR } from './command.js';
import { declareOptions, rejectOperands, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';

const OPTIONS = declareOptions([
  { name: '--path', help: 'print where the schema file is instead of its content' },
  {
    name: '--install',
    help: "point each PLAN's `# yaml-language-server: $schema=` line at this installation's schema",
  },
]);

type SchemaLine =
  | { readonly type: 'schema'; readonly path: string; readonly schema?: unknown }
  | { readonly type: 'schema-installed'; readonly plan: string; readonly schema: string; readonly changed: boolean };

const JSON_OUTPUT: JsonOutput = {
  intro: 'One `schema`; with `--install`, a `schema-installed` per plan.',
  lines: typedLines<SchemaLine>({
    schema: {
      when: 'without `--install`',
      fields: {
        path: "the schema file's path",
        schema: 'the JSON Schema document itself, on that one line; absent with `--path`',
      },
    },
    'schema-installed': {
      when: '`--install`: a plan done',
      fields: {
        plan: "the plan's file",
        schema: "the schema's absolute path its `# yaml-language-server: $schema=` line now names",
        changed: 'whether the file was changed (false: it named it already)',
      },
    },
  }),
};

export const schemaCommand: CommandSpec = defineCommand({
  name: 'schema',
  usage: 'sendense-run schema [--path | --install PLAN...]',
  does: "Print the JSON Schema plans are checked against (format version 1), or with --path its absolute\npath in this installation, e.g. for `# yaml-language-server: $schema=PATH` at the top of a plan.\nWith --install, write that line into each PLAN (replacing the one there): editors then complete and\ncheck it wherever it was copied. validate warns when a plan's line leads nowhere.",
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'printed, or every PLAN updated' },
    { code: 1, when: 'a PLAN could not be read or written' },
    USAGE_ERROR,
  ],
  json: JSON_OUTPUT,
  run: runSchema,
});

async function runSchema(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  if (given.flag('--install')) {
    if (given.flag('--path')) throw usageError('schema --install takes no --path');
    return installModelines(cli, given.operands);
  }
  rejectOperands(given.operands, 'schema');
  const file = planSchemaFile();
  if (given.flag('--path'))
    if (cli.json) printJson<SchemaLine>(cli, { type: 'schema', path: file });
    else cli.stdout.write(`${file}\n`);
  // --json: the document on one line inside one object, as every command's JSON (docs/json-events.md#schema---json).
  else if (cli.json)
    printJson<SchemaLine>(cli, {
      type: 'schema',
      path: file,
      schema: JSON.parse(readFileSync(file, 'utf8')) as unknown,
    });
  else cli.stdout.write(readFileSync(file, 'utf8'));
  return 0;
}

async function installModelines(cli: CliContext, plans: readonly string[]): Promise<number> {
  if (plans.length === 0 || plans.some((plan) => plan.startsWith('-')))
    throw new SendenseError('schema --install needs the plan files to update', { exitCode: 2 });
  const schema = planSchemaFile();
  for (const plan of plans) {
    const text = await readFile(plan, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new SendenseError(`cannot read ${plan}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
    });
    const updated = withSchemaModeline(text, schema);
    if (updated !== text) await writeFile(plan, updated);
    if (cli.json) printJson<SchemaLine>(cli, { type: 'schema-installed', plan, schema, changed: updated !== text });
    else cli.stdout.write(`${plan}: $schema=${schema}${updated === text ? ' (already)' : ''}\n`);
  }
  return 0;
}
