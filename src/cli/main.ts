// The sendense-run command line (docs/commands.md): common options, dispatch to the commands of
// ./commands.ts, help, and one line for a user's mistake (a stack only for a bug).

import type { ErrorEvent } from '../engine/run-events.js';
import { isSendenseError, usageError, type SendenseError } from '../errors.js';
import { packageVersion } from '../node/package-root.js';
import { tagChildrenOfThisProcess } from '../process/owner-tag.js';
import { maskDeep, maskSecrets } from '../secrets/mask.js';
import { isPlanPath, parseCommonArgs } from './args.js';
import { COMMON_OPTIONS, commandHelp, commandHelpJson } from './command-help.js';
import { COMMANDS, findCommand } from './commands.js';
import type { CliContext } from './context.js';
import { didYouMean } from './nearest-name.js';
import { overviewJson, USAGE } from './overview.js';

const COMMAND_NAMES = COMMANDS.map((command) => command.name);

export async function main(argv: readonly string[]): Promise<number> {
  ignoreClosedOutput();
  stopWithParent();
  const context = {
    stdout: process.stdout,
    stderr: process.stderr,
  };
  try {
    const parsed = await parseCommonArgs(argv);
    if (parsed.version) {
      const version = packageVersion();
      // The Node.js it runs on too: a hub on an end-of-life line is one look away.
      const node = process.versions.node;
      process.stdout.write(
        parsed.json
          ? `${JSON.stringify({ type: 'version', name: 'sendense-run', version, node })}\n`
          : `sendense-run ${version} (Node.js ${node})\n`,
      );
      return 0;
    }
    if (parsed.command === 'help')
      return await showHelp(
        parsed.rest.find((arg) => !arg.startsWith('-')),
        parsed.json,
      );
    if (parsed.command === undefined) {
      if (parsed.help) return await showHelp(undefined, parsed.json);
      process.stderr.write(USAGE);
      if (parsed.json)
        process.stdout.write(
          `${JSON.stringify({ type: 'error', message: 'no command given (see sendense-run --help)', exitCode: 2 })}\n`,
        );
      return 2;
    }
    let name = parsed.command;
    let rest = parsed.rest;
    if (findCommand(name) === undefined) {
      // A plan file need not end in .yaml: any existing path is a plan to run.
      if (isPlanPath(name)) {
        rest = [name, ...rest];
        name = 'run';
      } else if (name.startsWith('-')) {
        const near = didYouMean(
          name.split('=')[0],
          COMMON_OPTIONS.map((option) => option.name),
        );
        throw usageError(`unknown option '${name}'${near}, or no command given (see sendense-run --help)`);
      } else {
        throw usageError(
          `unknown command '${name}'${didYouMean(name, [...COMMAND_NAMES, 'help'])} (see sendense-run --help)`,
        );
      }
    }
    if (parsed.help) return await showHelp(name, parsed.json);
    const cli: CliContext = {
      ...context,
      dbPath: parsed.dbPath,
      hubConfig: parsed.hubConfig,
      json: parsed.json,
      quiet: parsed.quiet,
    };
    // Before any child exists: whatever a kill -9 leaves running can be found by doctor.
    tagChildrenOfThisProcess(cli.dbPath);
    const command = await findCommand(name)!.load();
    return await command.run(cli, rest);
  } catch (error) {
    if (isSendenseError(error)) {
      process.stderr.write(`sendense-run: ${maskSecrets(error.describe())}\n`);
      // --json readers get it on stdout too, as the one object that says why nothing (more) came.
      if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(maskDeep(errorLine(error)))}\n`);
      return error.exitCode;
    }
    process.stderr.write(
      `sendense-run: internal error (a bug, please report it):\n${maskSecrets((error as Error)?.stack ?? String(error))}\n`,
    );
    return 1;
  }
}

// `help [COMMAND]` / `COMMAND --help`: that command's usage and options, else the overview.
async function showHelp(name: string | undefined, json: boolean): Promise<number> {
  if (name === undefined) {
    process.stdout.write(json ? `${JSON.stringify(overviewJson())}\n` : USAGE);
    return 0;
  }
  const command = findCommand(name);
  if (command === undefined)
    throw usageError(
      `no help for '${name}': not a command${didYouMean(name, COMMAND_NAMES)} (see sendense-run --help)`,
    );
  const spec = await command.load();
  process.stdout.write(json ? `${JSON.stringify(commandHelpJson(command.name, spec))}\n` : commandHelp(spec));
  return 0;
}

function errorLine(error: SendenseError): ErrorEvent {
  const { file, line, column, step, disk, exitCode } = error;
  return { type: 'error', message: error.message, file, line, column, step, disk, exitCode };
}

// Output piped into `head` or a dropped SSH session must not kill a run before its cleanup
// (EPIPE is otherwise an uncaught error): what is left to print is dropped instead.
let outputGuarded = false;
function ignoreClosedOutput(): void {
  if (outputGuarded) return;
  outputGuarded = true;
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});
}

// A command the API server started as a task (docs/api.md#tasks) holds the read end of a pipe
// from it on stdin: when that server dies (kill -9 included) the pipe ends, and the command stops
// as on SIGTERM (a run cleans up and exits 130), so no task outlives the server that owns it.
function stopWithParent(): void {
  if (process.env.SENDENSE_STOP_WITH_PARENT !== '1') return;
  delete process.env.SENDENSE_STOP_WITH_PARENT;
  const stop = () => process.kill(process.pid, 'SIGTERM');
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
  // The pipe alone must not keep a finished command alive.
  process.stdin.unref?.();
}
