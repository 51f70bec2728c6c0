// Runs `sendense-run validate ...` in-process through the real CLI entry and captures its output.

import { expect } from 'vitest';
import { main } from '../../src/cli/main.js';

export interface CliRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runCli(argv: readonly string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const writeOut = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => (
    (stdout += String(chunk)),
    true
  )) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (
    (stderr += String(chunk)),
    true
  )) as typeof process.stderr.write;
  try {
    const exitCode = await main(argv);
    return { exitCode, stdout, stderr };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
}

// `sendense-run validate FILE` of a plan with mistakes: exit 2, no stack trace; its output.
export async function validateRefused(file: string): Promise<string> {
  const result = await runCli(['validate', file]);
  expect(result.exitCode).toBe(2);
  const output = result.stdout + result.stderr;
  expect(output).not.toMatch(/\n\s+at /);
  return output;
}
