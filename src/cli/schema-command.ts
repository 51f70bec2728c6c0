// `sendense-run schema [--path]`: the plan JSON Schema this installation checks plans with, or
// (--path) where it is, for an editor modeline in plans kept outside the checkout.

import { readFileSync } from 'node:fs';
import { planSchemaFile } from '../plan/plan-schema.js';
import { rejectLeftovers, takeFlag } from './args.js';
import { type CommandSpec, USAGE_ERROR } from './command.js';
import type { CliContext } from './context.js';

export const schemaCommand: CommandSpec = {
  name: 'schema',
  usage: 'sendense-run schema [--path]',
  does: 'Print the JSON Schema plans are checked against (format version 1), or with --path its absolute\npath in this installation, e.g. for `# yaml-language-server: $schema=PATH` at the top of a plan.',
  options: [{ name: '--path', help: 'print where the schema file is instead of its content' }],
  exitCodes: [{ code: 0, when: 'printed' }, USAGE_ERROR],
  run: runSchema,
};

async function runSchema(cli: CliContext, args: readonly string[]): Promise<number> {
  const where = takeFlag(args, '--path');
  rejectLeftovers(where.rest, schemaCommand);
  const file = planSchemaFile();
  if (where.present) cli.stdout.write(cli.json ? `${JSON.stringify({ type: 'schema', path: file })}\n` : `${file}\n`);
  else cli.stdout.write(readFileSync(file, 'utf8'));
  return 0;
}
