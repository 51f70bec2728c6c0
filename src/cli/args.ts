// Splits argv into the common options (accepted before or after the command) and the rest.

import path from 'node:path';
import { resolveDatabase } from '../store/database-target.js';
import { usageError } from '../errors.js';
import { existsSync } from 'node:fs';
import { findCommand, loadAllCommands } from './commands.js';
import { valueOptionNames } from './command-options.js';
import { defaultDbPath } from '../store/default-db-path.js';

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

export async function parseCommonArgs(argv: readonly string[]): Promise<ParsedArgs> {
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
  const at = await commandAt(positional);
  const command = at === -1 ? positional[0] : positional[at];
  const rest = positional.filter((_, i) => i !== (at === -1 ? 0 : at));
  return { command, rest, dbPath: dbPath ?? defaultDbPath(), hubConfig, json, quiet, help, version };
}

// A command's own options may come first too (`--dry-run plan.yaml`): the command is the first word
// that is neither an option nor the value of one. Whether the option before a word takes a value,
// the declaration of the command that word names says (loaded only then), else every command's.
async function commandAt(words: readonly string[]): Promise<number> {
  const candidates = words.flatMap((word, i) => (word.startsWith('-') ? [] : [i]));
  for (const [n, i] of candidates.entries()) {
    const word = words[i]!;
    const before = words[i - 1];
    if (before === undefined || !before.startsWith('-') || before.includes('=') || word === 'help') return i;
    const entry = findCommand(word) ?? (isPlanPath(word) ? findCommand('run') : undefined);
    // Not a command: the option's value, unless nothing after it could be the command.
    if (entry === undefined) {
      if (n === candidates.length - 1) return i;
      continue;
    }
    const own = (await entry.load()).options.find((option) => option.name === before);
    const takesValue = own ? own.value !== undefined : valueOptionNames(await loadAllCommands()).has(before);
    if (!takesValue) return i;
  }
  return -1;
}

// A word where a command belongs that is a plan to run (`sendense-run plan.yaml`): any existing path too.
export function isPlanPath(word: string): boolean {
  return /\.ya?ml$/i.test(word) || existsSync(word);
}
