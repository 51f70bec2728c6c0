// Reads a plan file as UTF-8 text, refusing what cannot be a plan (a directory, a device, a
// file far larger than any plan, binary data) with one problem instead of pages of YAML errors.

import { open, stat } from 'node:fs/promises';
import type { PlanDiagnostic } from './plan-diagnostic.js';

// A plan is a few kilobytes; anything this big is the wrong file (and would be slow to parse).
export const MAX_PLAN_BYTES = 1024 * 1024;

export type PlanText = { readonly text: string } | { readonly problem: PlanDiagnostic };

export async function readPlanText(file: string): Promise<PlanText> {
  let bytes: Buffer;
  try {
    // stat before open: opening a FIFO would wait for a writer.
    const info = await stat(file);
    if (info.isDirectory()) return problem(file, 'cannot read plan: is a directory');
    if (!info.isFile()) return problem(file, 'cannot read plan: not a regular file');
    if (info.size > MAX_PLAN_BYTES)
      return problem(
        file,
        `cannot read plan: ${info.size} bytes is too large for a plan (at most ${MAX_PLAN_BYTES}); is it the right file?`,
      );
    const handle = await open(file, 'r');
    try {
      bytes = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    return problem(file, `cannot read plan: ${reason(error)}`);
  }
  try {
    // TextDecoder drops a leading byte-order mark, so columns count from the first real character.
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    // Where the first undecodable byte is: the first replacement character of a lenient decode.
    const lenient = new TextDecoder('utf-8').decode(bytes);
    const lines = lenient.slice(0, Math.max(0, lenient.indexOf('\uFFFD'))).split('\n');
    const message = 'not UTF-8 text: a plan is a YAML file in UTF-8 (is it the right file?)';
    return {
      problem: { file, line: lines.length, column: lines[lines.length - 1].length + 1, severity: 'error', message },
    };
  }
}

function problem(file: string, message: string): PlanText {
  return { problem: { file, severity: 'error', message } };
}

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return (error as Error).message;
}
