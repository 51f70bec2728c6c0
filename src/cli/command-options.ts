// A command's own options, declared once in its file (src/cli/NAME-command.ts): the declaration
// drives the parsing (parseCommandOptions), `help NAME` and docs/commands.md (./command-help.ts),
// and the options that take a value, which main() must know to find a command given after them.

import { usageError } from '../errors.js';
import type { TaskRequest } from '../task/task-request.js';
import { didYouMean } from './nearest-name.js';

export interface OptionSpec {
  readonly name: `--${string}`;
  /** Placeholder of the option's value, e.g. NAME; absent for a flag. */
  readonly value?: string;
  /** May be given more than once: every value is kept (else the last one counts). */
  readonly repeatable?: true;
  /** Takes every word after it up to the next option (files --get A B C). */
  readonly list?: true;
  readonly help: string;
}

type ValueOption<O extends readonly OptionSpec[]> = Extract<O[number], { readonly value: string }>;

/** What a command line gave of the options `O` declares, typed by their names. */
export type GivenOptions<O extends readonly OptionSpec[]> = Given<
  Exclude<O[number], { readonly value: string }>['name'],
  Exclude<ValueOption<O>, { readonly repeatable: true } | { readonly list: true }>['name'],
  ValueOption<O>['name']
>;

export interface Given<Flag extends string, Single extends string, Value extends string> {
  /** The words that are neither options nor their values, in order. */
  readonly operands: readonly string[];
  /** The declared options given, in order (a check that some go only without others names the first). */
  readonly named: readonly string[];
  flag(name: Flag): boolean;
  /** The value given (the last, if given more than once). */
  value(name: Single): string | undefined;
  /** Every value given, in order. */
  values(name: Value): readonly string[];
}

// The options as a constant: their names and which take a value stay known to the type checker.
export function declareOptions<const O extends readonly OptionSpec[]>(options: O): O {
  return options;
}

// Accepted by every command, before or after it (parsed by ./args.ts).
export const COMMON_OPTIONS = declareOptions([
  {
    name: '--db',
    value: 'PATH|URL',
    help: 'state database: a SQLite file (a directory is a usage error, exit 2), or postgres://USER@HOST:PORT/DB for several hubs (password from PGPASSWORD, ~/.pgpass or $SENDENSE_DB_PASSWORD_FILE, never in the URL); default $SENDENSE_DB, else /var/lib/sendense/sendense.db for root, ${XDG_STATE_HOME:-~/.local/state}/sendense/sendense.db for others',
  },
  {
    name: '--hub-config',
    value: 'PATH',
    help: 'hub limits for runs and schedule: maxParallelDisks, memory, nbd.ports (runs beyond them wait in a queue), rate and windows (docs/bandwidth.md) (default /etc/sendense/hub.yaml when it exists; README "Hub limits")',
  },
  { name: '--json', help: 'one JSON object per line instead of the human view (docs/json-events.md)' },
  { name: '--quiet', help: 'only errors and the final summary' },
  { name: '--help', help: 'this help' },
]);

interface Declared {
  readonly name: string;
  readonly options: readonly OptionSpec[];
}

// `--name value`, `--name=value` and `--flag`, anywhere among the operands; an unknown option is a
// usage error naming the nearest declared or common one.
export function parseCommandOptions<O extends readonly OptionSpec[]>(
  args: readonly string[],
  command: Declared & { readonly options: O },
): GivenOptions<O> {
  const declared = new Map<string, OptionSpec>(command.options.map((option) => [option.name, option]));
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  const operands: string[] = [];
  const named: string[] = [];
  let list: string[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = equals > 0 ? arg.slice(0, equals) : arg;
    const option = declared.get(name);
    if (option === undefined) {
      if (list !== undefined && !arg.startsWith('-')) list.push(arg);
      else {
        list = undefined;
        operands.push(arg);
      }
      continue;
    }
    list = undefined;
    named.push(name);
    if (option.value === undefined) {
      if (equals > 0) throw usageError(`${name} takes no value (see sendense-run help ${command.name})`);
      flags.add(name);
      continue;
    }
    const taken = values.get(name) ?? [];
    values.set(name, taken);
    if (equals > 0) taken.push(arg.slice(equals + 1));
    else if (!option.list) {
      const value = args[++i];
      if (value === undefined) throw usageError(`${name} needs a value`);
      taken.push(value);
    }
    if (option.list) list = taken;
  }
  rejectUnknownOptions(operands, command);
  return {
    operands,
    named,
    flag: (name) => flags.has(name),
    value: (name) => values.get(name)?.at(-1),
    values: (name) => values.get(name) ?? [],
  };
}

// The same options from an API task's typed request (docs/api.md#tasks): each named option must be
// one the command declares, in its shape; operands are taken as they are, even when they begin with
// `-`, since no word of the request is ever parsed as an option.
export function givenFromRequest<O extends readonly OptionSpec[]>(
  request: TaskRequest,
  command: Declared & { readonly options: O },
): GivenOptions<O> {
  const declared = new Map<string, OptionSpec>(command.options.map((option) => [option.name, option]));
  const values = new Map<string, string[]>();
  const flags = new Set<string>();
  const named: string[] = [];
  for (const [name, given] of Object.entries(request.options)) {
    const option = declared.get(name);
    if (option === undefined) throw usageError(`the task's option '${name}' is not one '${command.name}' takes`);
    named.push(name);
    if (option.value === undefined) {
      if (given !== true) throw usageError(`the task's option ${name} takes no value`);
      flags.add(name);
      continue;
    }
    if (given === true) throw usageError(`the task's option ${name} needs a value`);
    const list = typeof given === 'string' ? [given] : [...given];
    if (list.length !== 1 && !option.repeatable && !option.list)
      throw usageError(`the task's option ${name} takes one value`);
    values.set(name, list);
  }
  return {
    operands: [...request.operands],
    named,
    flag: (name) => flags.has(name),
    value: (name) => values.get(name)?.at(-1),
    values: (name) => values.get(name) ?? [],
  };
}

// Rejects a word that looks like an option, naming it (only up to its `=`: what follows might be a
// secret) and the nearest valid one.
export function rejectUnknownOptions(args: readonly string[], command: Declared): void {
  const unknown = args.find((arg) => arg.startsWith('-'));
  if (unknown === undefined) return;
  const name = unknown.split('=')[0]!;
  const near = didYouMean(
    name,
    [...command.options, ...COMMON_OPTIONS].map((option) => option.name),
  );
  throw usageError(`unknown option '${name}' for '${command.name}'${near} (see sendense-run help ${command.name})`);
}

// A command that takes no operands: the first one given is named.
export function rejectOperands(operands: readonly string[], command: string): void {
  if (operands.length > 0) throw usageError(`${command} takes no arguments (got '${operands[0]}')`);
}

// The options of `commands` that take a value: the word after one is its value, not a command.
export function valueOptionNames(commands: readonly { readonly options: readonly OptionSpec[] }[]): Set<string> {
  return new Set(
    commands.flatMap((command) => command.options.filter((o) => o.value !== undefined).map((o) => o.name)),
  );
}
