// The one error type for user-facing failures. A SendenseError prints as one line (what and
// where) without a stack trace; anything else reaching the CLI is a bug and prints its stack.

export interface ErrorFacts {
  /** Plan or input file the error is about. */
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  /** Step of a run (docs/how-it-works.md#the-data-path) that failed. */
  readonly step?: string;
  /** Disk key the error is about. */
  readonly disk?: number;
  /** Process exit code the CLI should use: 2 invalid plan/usage, 1 run failure, 130 interrupted. */
  readonly exitCode?: 1 | 2 | 130;
  /**
   * Not a failure of the plan but a refusal to start it now (another run holds its VM): history
   * records the run `refused`, and `status` does not count it (docs/how-it-works.md#busy-vms).
   */
  readonly refusedStart?: true;
  readonly cause?: unknown;
}

export class SendenseError extends Error {
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly step?: string;
  readonly disk?: number;
  readonly exitCode: 1 | 2 | 130;
  readonly refusedStart?: true;

  constructor(message: string, facts: ErrorFacts = {}) {
    super(message, facts.cause === undefined ? undefined : { cause: facts.cause });
    this.name = 'SendenseError';
    this.file = facts.file;
    this.line = facts.line;
    this.column = facts.column;
    this.step = facts.step;
    this.disk = facts.disk;
    this.exitCode = facts.exitCode ?? 1;
    if (facts.refusedStart) this.refusedStart = true;
  }

  // "file:line:col: message" when a position is known, else the message with step/disk context.
  describe(): string {
    if (this.file !== undefined) {
      const where = [this.file, this.line, this.column].filter((part) => part !== undefined).join(':');
      return `${where}: ${this.message}`;
    }
    const context = [this.step && `step ${this.step}`, this.disk !== undefined && `disk ${this.disk}`]
      .filter(Boolean)
      .join(', ');
    return context ? `${context}: ${this.message}` : this.message;
  }
}

// A plan that fails validation: exit code 2, always with a file (and a position when known).
export function planError(message: string, file: string, line?: number, column?: number): SendenseError {
  return new SendenseError(message, { file, line, column, exitCode: 2 });
}

export function usageError(message: string): SendenseError {
  return new SendenseError(message, { exitCode: 2 });
}

export function isSendenseError(error: unknown): error is SendenseError {
  return error instanceof SendenseError;
}

// The error of a failed step: a SendenseError keeps its facts (the step named when it had none);
// anything else becomes one with the step and the original as its cause.
// Without a step: the error came before any (the VM's turn, the queue), and names none.
export function asRunError(error: unknown, step: string | undefined): SendenseError {
  if (isSendenseError(error)) {
    // Cause: the user error itself, so its own cause (an ssh2 refusal) is not taken for a bug.
    return error.step === undefined && error.file === undefined && step !== undefined
      ? new SendenseError(error.message, {
          step,
          disk: error.disk,
          exitCode: error.exitCode,
          cause: error,
          ...(error.refusedStart ? { refusedStart: true } : {}),
        })
      : error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SendenseError(message, { step, cause: error });
}
