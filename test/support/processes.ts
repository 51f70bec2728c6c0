// Assertions about processes a test started, by PID (never by name).

import { isProcessAlive } from '../../src/process/process-identity.js';

// Resolves true once the process is gone (or a zombie), false if still alive after timeoutMs.
export async function waitForProcessGone(pid: number, timeoutMs = 5000, startTicks?: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid, startTicks)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

// Best-effort SIGKILL of a PID this test started, for cleanup after a failed assertion.
export function killIfAlive(pid: number | undefined): void {
  if (pid === undefined || !isProcessAlive(pid)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

// True while the PID is in the process table at all, a zombie included (signal 0): stricter than
// isProcessAlive for "this process must be gone".
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
