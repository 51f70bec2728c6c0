// Where a run's progress is written and how (the CLI's common options --json and --quiet): the
// reporters and the scheduler's output need only this, not the CLI.

export interface Output {
  /** One JSON object per line instead of the human view. */
  readonly json: boolean;
  readonly quiet: boolean;
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}
