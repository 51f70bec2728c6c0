// Tell a process apart from a later one that reuses its PID: /proc/PID/stat field 22
// (starttime, clock ticks since boot) is fixed for a process's whole life.

import { readFileSync } from 'node:fs';

interface ProcStat {
  readonly state: string;
  readonly startTicks: number;
}

function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state), so field 22 is fields[19].
  return { state: fields[0], startTicks: Number(fields[19]) };
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
