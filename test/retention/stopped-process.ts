// A sendense-run a test stopped at a seam (stopAtEnv in src/crash-points.ts: it sends itself SIGSTOP), read
// from /proc: the test acts while it stands still, then sends SIGCONT.

import { readFileSync } from 'node:fs';

// The process state letter from /proc (T: stopped); undefined once gone.
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

export async function waitUntilStopped(pid: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let state = processState(pid); state !== 'T'; state = processState(pid)) {
    if (state === undefined || state === 'Z')
      throw new Error(`sendense-run ${pid} ended before it stopped at the seam`);
    if (Date.now() > deadline)
      throw new Error(`sendense-run ${pid} did not stop at the seam within ${timeoutMs} ms (state ${state})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
