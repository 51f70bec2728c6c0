// The sendense-run command line (SPEC section 5): common options, dispatch, exit codes.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isSendenseError, usageError, type SendenseError } from '../errors.js';
import { findPackageRoot } from '../node/package-root.js';
import { tagChildrenOfThisProcess } from '../process/owner-tag.js';
import { maskDeep, maskSecrets } from '../secrets/mask.js';
import { parseCommonArgs } from './args.js';
import { COMMAND_HELP, COMMON_OPTIONS, commandHelp } from './command-help.js';
import type { CliContext, Command } from './context.js';
import { didYouMean } from './nearest-name.js';

export const USAGE = `Usage: sendense-run [options] <command> [args]

Commands:
  PLAN.yaml [--dry-run]          run a plan now (same as: run PLAN.yaml)
  run PLAN.yaml [--dry-run] [--metrics-file PATH]
                                 run a plan now; --dry-run prints the resolved steps only
  validate FILE|DIR... [--format text|json|jsonl|github]
                                 check plans (schema + semantics), errors as file:line:col
  schedule FILE|DIR...           run plans with a schedule at their times, in the foreground
  backups [--vm NAME] [--verbose]
                                 list backups and chains, with their space on disk
  history [--plan NAME] [--limit N]
                                 list past runs
  doctor [--dry-run]             find and clean what crashed runs left behind
  verify [--vm NAME] [--backup ID]
                                 check stored backups against their manifests' digests
  catalog import REPOSITORY      rebuild the database's backups from a repository's manifests
  prune PLAN.yaml [--dry-run]    apply the plan's keep-* retention now: unkept points merged away
  schema [--path]                the plan JSON Schema (--path: where it is installed)
  help COMMAND                   that command's options (or: COMMAND --help)
  files VM [--point P] [--disk KEY] [NAME:/PATH] [--get NAME:/PATH... --to DIR|FILE.tar[.gz]|FILE.zip]
                                 list a backed-up disk's filesystems or a directory, or extract files
  mount VM [--point P] [--disk KEY] DIR
                                 read-only mount of a point's filesystems until Ctrl+C

Options (before or after the command):
  --db PATH     state database (default $SENDENSE_DB, else /var/lib/sendense/sendense.db
                for root, \${XDG_STATE_HOME:-~/.local/state}/sendense/sendense.db for others)
  --hub-config PATH
                the hub's limits: maxParallelDisks, memory, nbd.ports
                (default /etc/sendense/hub.yaml if it exists)
  --json        one JSON object per line instead of the human view
  --quiet       only errors and the final summary
  --help, --version

Exit codes: 0 success, 1 a run failed, 2 invalid plan or usage, 130 interrupted.
`;

// Commands are loaded lazily so `validate` does not pay for SQLite, ssh2 or listr2.
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./run-command.js')).runCommand,
  validate: async () => (await import('./validate-command.js')).validateCommand,
  schedule: async () => (await import('./schedule-command.js')).scheduleCommand,
  backups: async () => (await import('./backups-command.js')).backupsCommand,
  history: async () => (await import('./history-command.js')).historyCommand,
  doctor: async () => (await import('./doctor-command.js')).doctorCommand,
  files: async () => (await import('./files-command.js')).filesCommand,
  mount: async () => (await import('./mount-command.js')).mountCommand,
  schema: async () => (await import('./schema-command.js')).schemaCommand,
  verify: async () => (await import('./verify-command.js')).verifyCommand,
  catalog: async () => (await import('./catalog-command.js')).catalogCommand,
  prune: async () => (await import('./prune-command.js')).pruneCommand,
};

export async function main(argv: readonly string[]): Promise<number> {
  ignoreClosedOutput();
  const context = {
    stdout: process.stdout,
    stderr: process.stderr,
  };
  try {
    const parsed = parseCommonArgs(argv);
    if (parsed.version) {
      const version = packageVersion();
      // The Node.js it runs on too: a hub on an end-of-life line is one look away.
      const node = process.versions.node;
      process.stdout.write(parsed.json ? `${JSON.stringify({ type: 'version', name: 'sendense-run', version, node })}\n` : `sendense-run ${version} (Node.js ${node})\n`);
      return 0;
    }
    if (parsed.command === 'help') return showHelp(parsed.rest.find((arg) => !arg.startsWith('-')));
    if (parsed.command === undefined) {
      (parsed.help ? process.stdout : process.stderr).write(USAGE);
      return parsed.help ? 0 : 2;
    }
    let name = parsed.command;
    let rest = parsed.rest;
    if (!(name in COMMANDS)) {
      // A plan file need not end in .yaml: any existing path is a plan to run.
      if (/\.ya?ml$/i.test(name) || existsSync(name)) {
        rest = [name, ...rest];
        name = 'run';
      } else if (name.startsWith('-')) {
        const near = didYouMean(name.split('=')[0], COMMON_OPTIONS.map((option) => option.name));
        throw usageError(`unknown option '${name}'${near}, or no command given (see sendense-run --help)`);
      } else {
        throw usageError(`unknown command '${name}'${didYouMean(name, [...Object.keys(COMMANDS), 'help'])} (see sendense-run --help)`);
      }
    }
    if (parsed.help) return showHelp(name);
    const cli: CliContext = { ...context, dbPath: parsed.dbPath, hubConfig: parsed.hubConfig, json: parsed.json, quiet: parsed.quiet };
    // Before any child exists: whatever a kill -9 leaves running can be found by doctor.
    tagChildrenOfThisProcess(cli.dbPath);
    const command = await COMMANDS[name]();
    return await command(cli, rest);
  } catch (error) {
    if (isSendenseError(error)) {
      process.stderr.write(`sendense-run: ${maskSecrets(error.describe())}\n`);
      // --json readers get it on stdout too, as the one object that says why nothing (more) came.
      if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(maskDeep(errorLine(error)))}\n`);
      return error.exitCode;
    }
    process.stderr.write(`sendense-run: internal error (a bug, please report it):\n${maskSecrets((error as Error)?.stack ?? String(error))}\n`);
    return 1;
  }
}

// `help [COMMAND]` / `COMMAND --help`: that command's usage and options, else the overview.
function showHelp(command: string | undefined): number {
  if (command === undefined) {
    process.stdout.write(USAGE);
    return 0;
  }
  const help = COMMAND_HELP[command];
  if (help === undefined) {
    if (command in COMMANDS) {
      process.stdout.write(USAGE);
      return 0;
    }
    throw usageError(`no help for '${command}': not a command${didYouMean(command, Object.keys(COMMANDS))} (see sendense-run --help)`);
  }
  process.stdout.write(commandHelp(help));
  return 0;
}

function errorLine(error: SendenseError): Record<string, unknown> {
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

// From src/ (tests) or dist/cli/ (the bin) alike.
function packageVersion(): string {
  const manifest = path.join(findPackageRoot(), 'package.json');
  return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
}
