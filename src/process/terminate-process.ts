// Stop one process by PID: SIGTERM, wait, then SIGKILL. With startTicks, a PID that now
// belongs to another process is left alone. Used for qemu-nbd and by `doctor`.

import { isProcessAlive } from './process-identity.js';

export type TerminateOutcome = 'not-running' | 'terminated' | 'killed';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Resolves true once the process is gone (or a zombie: dead, waiting to be reaped by its parent).
export async function waitForExit(pid: number, timeoutMs: number, startTicks?: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid, startTicks)) {
    if (Date.now() >= deadline) return false;
    await sleep(20);
  }
  return true;
}

// A signal to exactly this PID; one that is already gone is fine.
export function signalProcess(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

export async function terminateProcess(
  pid: number,
  options: { readonly startTicks?: number; readonly timeoutMs?: number } = {},
): Promise<TerminateOutcome> {
  const { startTicks, timeoutMs = 5000 } = options;
  if (!isProcessAlive(pid, startTicks)) return 'not-running';
  signalProcess(pid, 'SIGTERM');
  if (await waitForExit(pid, timeoutMs, startTicks)) return 'terminated';
  signalProcess(pid, 'SIGKILL');
  if (await waitForExit(pid, 5000, startTicks)) return 'killed';
  throw new Error(`process ${pid} survived SIGKILL`);
}
