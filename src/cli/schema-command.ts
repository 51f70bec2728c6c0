// `sendense-run schema [--path]`: the plan JSON Schema this installation checks plans with, or
// (--path) where it is, for an editor modeline in plans kept outside the checkout.

import { readFileSync } from 'node:fs';
import { planSchemaFile } from '../plan/plan-schema.js';
import { rejectLeftovers, takeFlag } from './args.js';
import type { Command } from './context.js';

export const schemaCommand: Command = async (cli, args) => {
  const where = takeFlag(args, '--path');
  rejectLeftovers(where.rest, 'schema');
  const file = planSchemaFile();
  if (where.present) cli.stdout.write(cli.json ? `${JSON.stringify({ type: 'schema', path: file })}\n` : `${file}\n`);
  else cli.stdout.write(readFileSync(file, 'utf8'));
  return 0;
};
