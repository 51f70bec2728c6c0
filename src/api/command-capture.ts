// Reading routes answer from the CLI's own commands (docs/api.md#one-implementation): the command
// runs in this process with --json and its lines are the answer, so the API and the CLI cannot
// disagree. Only commands that neither wait long nor touch signals run here; the rest are tasks.

import { Writable } from 'node:stream';
import { isSendenseError } from '../errors.js';
import type { CommandSpec } from '../cli/command.js';
import type { CliContext } from '../cli/context.js';
import { ApiError } from './api-error.js';

export interface Captured {
  readonly exitCode: number;
  /** Each JSON line the command printed (parsed when first asked). */
  readonly lines: readonly Record<string, unknown>[];
  /** The same lines as printed: a long list is answered without parsing and serializing it again. */
  readonly texts: readonly string[];
  readonly stderr: string;
}

class Collect extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.text += chunk.toString();
    done();
  }
}

export interface CaptureContext {
  readonly dbPath: string;
  readonly hubConfig?: string;
}

// The commands routes answer from, each loaded from its own module (not the CLI's list of every
// command, which holds `api` itself).
const COMMANDS = {
  backups: async () => (await import('../cli/backups-command.js')).backupsCommand,
  history: async () => (await import('../cli/history-command.js')).historyCommand,
  status: async () => (await import('../cli/status-command.js')).statusCommand,
  replicas: async () => (await import('../cli/replicas-command.js')).replicasCommand,
  protect: async () => (await import('../cli/protect-command.js')).protectCommand,
  unprotect: async () => (await import('../cli/protect-command.js')).unprotectCommand,
} satisfies Record<string, () => Promise<CommandSpec>>;

export async function captureCommand(
  context: CaptureContext,
  name: keyof typeof COMMANDS,
  args: readonly string[],
): Promise<Captured> {
  const stdout = new Collect();
  const stderr = new Collect();
  const cli: CliContext = {
    stdout,
    stderr,
    json: true,
    quiet: true,
    dbPath: context.dbPath,
    ...(context.hubConfig ? { hubConfig: context.hubConfig } : {}),
  };
  let exitCode: number;
  try {
    exitCode = await (await COMMANDS[name]()).run(cli, args);
  } catch (error) {
    if (!isSendenseError(error)) throw error;
    throw ApiError.fromCommand(error.exitCode, error.describe());
  }
  const texts = stdout.text.split('\n').filter((line) => line.trim() !== '');
  let lines: Record<string, unknown>[] | undefined;
  return {
    exitCode,
    texts,
    get lines() {
      return (lines ??= texts.map((line) => JSON.parse(line) as Record<string, unknown>));
    },
    stderr: stderr.text,
  };
}
