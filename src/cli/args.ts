// Splits argv into the common options (accepted before or after the command) and the rest.

import path from 'node:path';
import { resolveDatabase } from '../store/database-target.js';
import { usageError } from '../errors.js';
import type { CommandSpec } from './command.js';
import { optionNames } from './command-help.js';
import { defaultDbPath } from './context.js';
import { didYouMean } from './nearest-name.js';

export interface ParsedArgs {
  readonly command: string | undefined;
  readonly rest: readonly string[];
  readonly dbPath: string;
  /** --hub-config PATH; undefined = /etc/sendense/hub.yaml when it exists, else the defaults. */
  readonly hubConfig?: string;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly help: boolean;
  readonly version: boolean;
}

export function parseCommonArgs(argv: readonly string[]): ParsedArgs {
  // The default only when no --db is given: a $SENDENSE_DB that --db overrides is never checked.
  let dbPath: string | undefined;
  let hubConfig: string | undefined;
  let json = false;
  let quiet = false;
  let help = false;
  let version = false;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--db') {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw usageError('--db needs a path or a postgres:// URL');
      dbPath = resolveDatabase(value);
    } else if (arg.startsWith('--db=')) {
      dbPath = resolveDatabase(arg.slice('--db='.length));
    } else if (arg === '--hub-config') {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw usageError('--hub-config needs a path');
      hubConfig = path.resolve(value);
    } else if (arg.startsWith('--hub-config=')) {
      hubConfig = path.resolve(arg.slice('--hub-config='.length));
    } else if (arg === '--json') {
      json = true;
    } else if (arg === '--quiet' || arg === '-q') {
      quiet = true;
    } else if (arg === '--help' || arg === '-h') {
      help = true;
    } else if (arg === '--version' || arg === '-V') {
      version = true;
    } else {
      positional.push(arg);
    }
  }
  // A command's own options may come first too (`--dry-run plan.yaml`): the command is the first
  // word that is neither an option nor an option's value.
  const at = positional.findIndex((arg, i) => !arg.startsWith('-') && !COMMAND_VALUE_OPTIONS.has(positional[i - 1]));
  const command = at === -1 ? positional[0] : positional[at];
  const rest = positional.filter((_, i) => i !== (at === -1 ? 0 : at));
  return { command, rest, dbPath: dbPath ?? defaultDbPath(), hubConfig, json, quiet, help, version };
}

// Options of single commands that take a value (those with a `value` in their declaration; a test
// in test/cli/commands.test.ts keeps the two the same).
export const COMMAND_VALUE_OPTIONS: ReadonlySet<string | undefined> = new Set([
  '--vm',
  '--uri',
  '--plan',
  '--verify',
  '--limit',
  '--format',
  '--metrics-file',
  '--point',
  '--disk',
  '--to',
  '--backup',
  '--chain',
  '--repository',
  '--node',
  '--identity',
  '--known-hosts',
  '--key-file',
  '--key-env',
  '--new-key-file',
  '--new-key-env',
  '--remove-key-file',
  '--remove-key-env',
  '--listen',
  '--role',
  '--expires',
  '--token',
]);

// Takes `--name value` / `--name=value` out of args; returns the value (the last, if repeated) and the remaining args.
export function takeOption(args: readonly string[], name: string): { value?: string; rest: string[] } {
  const { values, rest } = takeRepeatedOption(args, name);
  return { value: values.at(-1), rest };
}

// Takes every `--name value` / `--name=value` out of args (an option that may repeat, e.g. serve --disk).
export function takeRepeatedOption(args: readonly string[], name: string): { values: string[]; rest: string[] } {
  const rest: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === name) {
      const value = args[++i];
      if (value === undefined) throw usageError(`${name} needs a value`);
      values.push(value);
    } else if (arg.startsWith(`${name}=`)) {
      values.push(arg.slice(name.length + 1));
    } else {
      rest.push(arg);
    }
  }
  return { values, rest };
}

// Takes a boolean `--flag` out of args.
export function takeFlag(args: readonly string[], name: string): { present: boolean; rest: string[] } {
  const rest = args.filter((arg) => arg !== name);
  return { present: rest.length !== args.length, rest };
}

// Rejects anything left that looks like an option, naming it and the nearest valid one.
export function rejectUnknownOptions(args: readonly string[], command: Pick<CommandSpec, 'name' | 'options'>): void {
  const unknown = args.find((arg) => arg.startsWith('-'));
  if (unknown === undefined) return;
  const near = didYouMean(unknown.split('=')[0], optionNames(command));
  throw usageError(`unknown option '${unknown}' for '${command.name}'${near} (see sendense-run help ${command.name})`);
}

// What is left after a command took its options: nothing (an unknown option, then an argument, is named).
export function rejectLeftovers(args: readonly string[], command: Pick<CommandSpec, 'name' | 'options'>): void {
  rejectUnknownOptions(args, command);
  if (args.length > 0) throw usageError(`${command.name} takes no arguments (got '${args[0]}')`);
}
