// Assertions about processes a test started, by PID (never by name).

import { isProcessAlive, processStartTicks } from '../../src/process/process-identity.js';

// How long a process that should end (or a line that should come) is given: a deadline only, met in well under a second when
// the machine is idle. CI runs three test files beside each other on two cores, beside guests under
// software emulation; a short deadline there fails a test for the load, not for a defect.
export const DEADLINE_UNDER_LOAD_MS = 60_000;

// Resolves true once the process is gone (or a zombie), false if still alive after timeoutMs.
export async function waitForProcessGone(
  pid: number,
  timeoutMs = DEADLINE_UNDER_LOAD_MS,
  startTicks?: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid, startTicks)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

// A process as it was when noted: its PID and start time (clock ticks after boot). PIDs are
// reused once a process is gone (pid_max is 32768 on these machines, and the suite spawns
// thousands of processes), so a kill long after the fact must check both, or it may hit a
// process of another test running beside this one.
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTicks: number;
}

// The identity of a process running now; undefined once it is gone (or a zombie).
export function identify(pid: number | undefined): ProcessIdentity | undefined {
  if (pid === undefined) return undefined;
  const startTicks = processStartTicks(pid);
  return startTicks === undefined ? undefined : { pid, startTicks };
}

// Best-effort SIGKILL of a process this test started or noted, for cleanup after a failed
// assertion: only while its PID still names that same process.
export function killIfAlive(target: ProcessIdentity | undefined): void {
  if (target === undefined || !isProcessAlive(target.pid, target.startTicks)) return;
  try {
    process.kill(target.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

// Processes a test noted while they ran, stopped after it by identity (a failed assertion may
// have left them): add() reads the start time at once, while the PID is surely still theirs.
export class NotedProcesses {
  readonly #noted: ProcessIdentity[] = [];

  add(pid: number | undefined): void {
    const noted = identify(pid);
    if (noted !== undefined) this.#noted.push(noted);
  }

  /** A process recorded with its start time (a state database's processes table). */
  addKnown(noted: ProcessIdentity): void {
    this.#noted.push(noted);
  }

  killAll(): void {
    for (const noted of this.#noted.splice(0)) killIfAlive(noted);
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
