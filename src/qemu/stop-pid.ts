// Stop exactly one process by PID: SIGTERM, wait up to the timeout, then SIGKILL.

import { isProcessAlive, processStartTicks } from './process-identity.js';

export async function stopPid(pid: number, timeoutMs = 5000): Promise<void> {
  const ticks = processStartTicks(pid);
  if (ticks === undefined) return;
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid, ticks)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (isProcessAlive(pid, ticks)) signal(pid, 'SIGKILL');
  const killDeadline = Date.now() + 2000;
  while (isProcessAlive(pid, ticks) && Date.now() < killDeadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
