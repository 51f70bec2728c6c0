// Tell a process apart from a later one that reuses its PID: /proc/PID/stat field 22
// (starttime, clock ticks since boot) is fixed for a process's whole life.

import { readFileSync } from 'node:fs';

export interface ProcStat {
  /** Its command name (at most 15 bytes, as the kernel keeps it). */
  readonly command: string;
  readonly state: string;
  readonly parentPid: number;
  readonly startTicks: number;
}

/** What /proc/PID/stat says of a process, or undefined when there is none. */
export function readProcStat(pid: number | string): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state), so field 4 is fields[1] and field 22 is fields[19].
  return {
    command: text.slice(text.indexOf('(') + 1, close),
    state: fields[0],
    parentPid: Number(fields[1]),
    startTicks: Number(fields[19]),
  };
}

// The start time of a running process, or undefined when there is no such process.
export function processStartTicks(pid: number): number | undefined {
  const stat = readProcStat(pid);
  return stat === undefined || stat.state === 'Z' ? undefined : stat.startTicks;
}

// Alive, not a zombie, and (when startTicks is given) the same process that was recorded.
export function isProcessAlive(pid: number, startTicks?: number | null): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const stat = readProcStat(pid);
  if (stat === undefined) {
    if (process.platform === 'linux') return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  if (stat.state === 'Z') return false;
  return startTicks === undefined || startTicks === null || stat.startTicks === startTicks;
}
