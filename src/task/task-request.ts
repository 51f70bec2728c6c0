// The request an API task's child reads (docs/api.md#tasks): the command and its options as typed
// JSON on the child's stdin, never as command-line words, so a value that begins with `-` (a VM
// named `--help`, `--db=/tmp/x`) is only ever that value.

/** A flag is `true`; an option with a value its value, or every value of a repeatable one. */
export type TaskOptionValue = true | string | readonly string[];

export interface TaskRequest {
  /** The command's name, e.g. `verify`. */
  readonly command: string;
  /** The words that are not options, taken literally. */
  readonly operands: readonly string[];
  /** Declared options by name (`--vm`), never a common option (--db, --json: the server's own). */
  readonly options: Readonly<Record<string, TaskOptionValue>>;
}

// The environment variable that tells the child its request comes on stdin.
export const TASK_REQUEST_ENV = 'SENDENSE_TASK_REQUEST';

// The longest request line read: every value a route takes is bounded far below it.
export const TASK_REQUEST_LIMIT = 256 * 1024;

export function taskRequestLine(request: TaskRequest): string {
  return `${JSON.stringify(request)}\n`;
}

/** The request as parsed JSON, checked for its shape; throws a message naming what is wrong. */
export function parseTaskRequest(text: string): TaskRequest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`the task request is not JSON: ${(error as Error).message}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('the task request is not an object');
  const { command, operands, options, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new Error(`the task request has a field nobody declared: ${extra}`);
  if (typeof command !== 'string' || command === '') throw new Error('the task request names no command');
  if (!Array.isArray(operands) || !operands.every((word) => typeof word === 'string'))
    throw new Error("the task request's operands are not a list of strings");
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new Error("the task request's options are not an object");
  for (const [name, given] of Object.entries(options)) {
    const ok =
      given === true ||
      typeof given === 'string' ||
      (Array.isArray(given) && given.every((item) => typeof item === 'string'));
    if (!ok) throw new Error(`the task request's option ${name} is neither true, a string nor a list of strings`);
  }
  return { command, operands: operands as string[], options: options as Record<string, TaskOptionValue> };
}
