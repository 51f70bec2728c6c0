// The sendense-run command line (docs/commands.md): common options, dispatch to the commands of
// ./commands.ts, help, and one line for a user's mistake (a stack only for a bug).

import type { ErrorEvent } from '../engine/run-events.js';
import { isSendenseError, usageError, type SendenseError } from '../errors.js';
import { packageVersion } from '../node/package-root.js';
import { tagChildrenOfThisProcess } from '../process/owner-tag.js';
import { maskDeep, maskSecrets } from '../secrets/mask.js';
import type { TaskRequest } from '../task/task-request.js';
import { isPlanPath, parseCommonArgs, type ParsedArgs } from './args.js';
import { COMMON_OPTIONS, commandHelp, commandHelpJson } from './command-help.js';
import { COMMANDS, findCommand } from './commands.js';
import type { CliContext } from './context.js';
import { didYouMean } from './nearest-name.js';
import { overviewJson, USAGE } from './overview.js';
import { readTaskInput } from './task-input.js';

const COMMAND_NAMES = COMMANDS.map((command) => command.name);

export async function main(argv: readonly string[]): Promise<number> {
  ignoreClosedOutput();
  const context = {
    stdout: process.stdout,
    stderr: process.stderr,
  };
  try {
    const request = await readTaskInput();
    const parsed = await parseCommonArgs(argv);
    if (request !== undefined) return await runTaskRequest(parsed, request);
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

// An API task (docs/api.md#tasks): the command line holds only the server's own common options;
// the command and its options come typed from the request, none of it parsed as words.
async function runTaskRequest(parsed: ParsedArgs, request: TaskRequest): Promise<number> {
  if (parsed.command !== undefined || parsed.help || parsed.version)
    throw usageError('a task takes its command from its request, not from the command line');
  const entry = findCommand(request.command);
  const command = entry === undefined ? undefined : await entry.load();
  if (command?.runRequest === undefined) throw usageError(`'${request.command}' is not a command a task runs`);
  const cli: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    dbPath: parsed.dbPath,
    hubConfig: parsed.hubConfig,
    json: parsed.json,
    quiet: parsed.quiet,
  };
  tagChildrenOfThisProcess(cli.dbPath);
  return command.runRequest(cli, request);
}
