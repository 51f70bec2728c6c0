// `sendense-run schedule ... --json` as a child process the test reads line by line and signals
// by its own PID (needs `npm run build`).

import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { DEADLINE_UNDER_LOAD_MS } from '../support/processes.js';

export interface JsonLine {
  readonly type: string;
  readonly event?: string;
  readonly level?: string;
  readonly plan?: string;
  readonly step?: string;
  readonly status?: string;
  readonly message?: string;
  readonly runId?: string;
  readonly next?: string | null;
  readonly [key: string]: unknown;
}

export interface SchedulerProcess {
  readonly child: ChildProcess;
  readonly lines: JsonLine[];
  readonly stderr: () => string;
  /** Resolves with the first line (from `from` on) matching, or rejects after timeoutMs. */
  waitFor(match: (line: JsonLine) => boolean, timeoutMs?: number, from?: number): Promise<JsonLine>;
  readonly exited: Promise<number | null>;
}

export function startScheduler(args: readonly string[], env: Record<string, string> = {}): SchedulerProcess {
  const bin = path.resolve('bin/sendense-run.js');
  const child = spawn(process.execPath, [bin, 'schedule', '--json', ...args], {
    env: { ...process.env, CI: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: JsonLine[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  let errText = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const part of parts) if (part.startsWith('{')) lines.push(JSON.parse(part) as JsonLine);
    for (const wake of waiters) wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => (errText += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitFor = (match: (line: JsonLine) => boolean, timeoutMs = DEADLINE_UNDER_LOAD_MS, from = 0) =>
    new Promise<JsonLine>((resolve, reject) => {
      const check = () => {
        const found = lines.slice(from).find(match);
        if (found === undefined) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out waiting for a scheduler line; got:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${errText}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      void exited.then(() => setTimeout(check, 50));
      check();
    });
  return { child, lines, stderr: () => errText, waitFor, exited };
}

// Kills the scheduler if a test failed before stopping it (by its PID, which this test started).
export async function killScheduler(scheduler: SchedulerProcess | undefined): Promise<void> {
  if (scheduler === undefined || scheduler.child.exitCode !== null || scheduler.child.signalCode !== null) return;
  scheduler.child.kill('SIGKILL');
  await scheduler.exited;
}
