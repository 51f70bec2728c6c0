// One command of the CLI, declared in one file (src/cli/NAME-command.ts) and listed in ./commands.ts:
// what `help NAME` prints, its options (./command-options.ts), its exit codes as docs/commands.md
// lists them, what it prints under --json (./json-output.ts), and what it does.

import type { TaskRequest } from '../task/task-request.js';
import { givenFromRequest, parseCommandOptions, type GivenOptions, type OptionSpec } from './command-options.js';
import type { CliContext } from './context.js';
import type { JsonOutput } from '../output/json-output.js';

// Every command also exits 2 on a usage error and 1 on an internal error (a bug, printed with its stack).
export interface ExitCode {
  readonly code: 0 | 1 | 2 | 130;
  readonly when: string;
}

export interface CommandSpec {
  readonly name: string;
  /** After `Usage: ` in `help NAME`. */
  readonly usage: string;
  /** What it does, under the usage line. */
  readonly does: string;
  /** Its own options; the common ones (./command-options.ts) come with every command. */
  readonly options: readonly OptionSpec[];
  readonly exitCodes: readonly ExitCode[];
  /** What it prints under --json, line by line (docs/json-events.md is made from it). */
  readonly json: JsonOutput;
  /** Runs it on the words after its name (options anywhere among them). */
  run(cli: CliContext, args: readonly string[]): Promise<number>;
  /** Runs it on an API task's typed request (docs/api.md#tasks): no word of it is parsed as an option. */
  runRequest?(cli: CliContext, request: TaskRequest): Promise<number>;
}

/** A command as its file declares it: `run` gets the options its declaration parsed. */
export interface CommandDeclaration<O extends readonly OptionSpec[]> extends Omit<CommandSpec, 'options' | 'run'> {
  readonly options: O;
  run(cli: CliContext, given: GivenOptions<O>): Promise<number>;
}

export function defineCommand<const O extends readonly OptionSpec[]>(declaration: CommandDeclaration<O>): CommandSpec {
  return {
    ...declaration,
    run: (cli, args) => declaration.run(cli, parseCommandOptions(args, declaration)),
    runRequest: (cli, request) => declaration.run(cli, givenFromRequest(request, declaration)),
  };
}

export const USAGE_ERROR: ExitCode = {
  code: 2,
  when: 'usage error: an unknown option or a missing argument (the message names the nearest valid option)',
};
