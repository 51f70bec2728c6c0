// One command of the CLI, declared in one file (src/cli/NAME-command.ts) and listed in ./commands.ts:
// what `help NAME` prints, its exit codes as docs/commands.md lists them, and what it does.

import type { CliContext } from './context.js';

export interface OptionHelp {
  readonly name: string;
  /** Placeholder of the option's value, e.g. NAME; absent for a flag. */
  readonly value?: string;
  readonly help: string;
}

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
  /** Its own options; the common ones (./command-help.ts) come with every command. */
  readonly options: readonly OptionHelp[];
  readonly exitCodes: readonly ExitCode[];
  run(cli: CliContext, args: readonly string[]): Promise<number>;
}

export const USAGE_ERROR: ExitCode = {
  code: 2,
  when: 'usage error: an unknown option or a missing argument (the message names the nearest valid option)',
};
