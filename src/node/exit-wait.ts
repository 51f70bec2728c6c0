// Waiting for a process to end, with a deadline: the common piece of every stop(grace) sequence.

import { constants as osConstants } from 'node:os';

export type ExitStatus = { readonly exitCode: number | null; readonly signal: string | null };

// Resolves true when `exited` settles within ms, false on the deadline (the timer never lingers).
export async function exitedWithin(exited: Promise<ExitStatus>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([exited.then(() => true as const), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export const DEFAULT_STOP_GRACE_MS = 5000;

// A program killed by a signal reads like a shell reports it: 128 + the signal's number.
export function signalExitCode(signal: string | null | undefined): number {
  const signals = osConstants.signals as Readonly<Record<string, number>>;
  return 128 + ((signal && signals[signal]) || 0);
}
