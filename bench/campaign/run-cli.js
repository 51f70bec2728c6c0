// Runs the real CLI (bin/sendense-run.js, built) with --json, notes every process it starts (by
// PID and start time, from /proc, never by name), and applies a kill fault at its moment.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clockEnv } from './mode-clock.js';

// Far above any run's time here (seconds): a run still going then is one that hangs.
const RUN_TIMEOUT_MS = Number(process.env.CAMPAIGN_RUN_TIMEOUT_MS ?? 10 * 60_000);
const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'sendense-run.js');

// A process's state, parent and start time from /proc (undefined: gone).
export function stat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, state: fields[0], ppid: Number(fields[1]), startTicks: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

// Live descendants of root (children, grandchildren...), with their start times.
export function descendants(root) {
  const entries = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => stat(Number(name)))
    .filter((entry) => entry !== undefined && entry.state !== 'Z');
  const found = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const entry of entries) {
      if (entry.ppid === parent) {
        found.push(entry);
        queue.push(entry.pid);
      }
    }
  }
  return found;
}

export function commandOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

// True while pid still names the process noted with startTicks (PIDs are reused).
export function stillRunning(noted) {
  const now = stat(noted.pid);
  return now !== undefined && now.state !== 'Z' && now.startTicks === noted.startTicks;
}

function kill(pid) {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

// A short name for a process the run started: what a kill-child fault hit.
function childName(command) {
  const program = command[0]?.split('/').pop() ?? '?';
  if (program === 'node' || program.startsWith('node'))
    return (command.find((arg) => arg.endsWith('.mjs') || arg.endsWith('.js')) ?? 'node').split('/').pop();
  return program;
}

/**
 * Runs `sendense-run ARGS --json --db ws.db` and resolves when it ended. fault (optional):
 *   { kind: 'kill-run', event: N } | { kind: 'kill-run', delayMs: N } | { kind: 'kill-child', event: N, pick: 0..1 }
 *   | { kind, event or delayMs, act: () => string | undefined } (a fault outside the run: what it hit)
 * resolves { exitCode, signal, stdout, stderr, noted: [{pid, startTicks, command}], hit: undefined | string, timedOut }.
 */
// The CLI processes running now, with what they started: stopped when the campaign is interrupted.
const running = new Map();

// SIGKILL of every run under way and of every process it started (by PID and start time).
export function stopRunning() {
  for (const [child, noted] of running) {
    kill(child.pid);
    for (const entry of noted.values()) if (stillRunning(entry)) kill(entry.pid);
  }
}

// `watch` (optional): called with each --json line and a `send(signal)` that signals the run only while it has not ended.
export function runCli(ws, args, fault, db = ws.db, watch = undefined) {
  const child = spawn(process.execPath, [BIN, ...args, '--json', '--db', db], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: '1', TMPDIR: ws.tmp, ...clockEnv(ws) },
  });
  const noted = new Map();
  running.set(child, noted);
  const note = () => {
    for (const entry of descendants(child.pid))
      if (!noted.has(`${entry.pid}:${entry.startTicks}`))
        noted.set(`${entry.pid}:${entry.startTicks}`, { ...entry, command: commandOf(entry.pid) });
  };
  let stdout = '';
  let pending = ''; // the last line of stdout so far, not yet ended (for watch)
  let stderr = '';
  let lines = 0;
  let hit;
  let step = 'start';
  let armed = false;
  let closed = false;
  const tryFault = () => {
    // Never after the run has ended: its PID may be another process's by then, and a fault of the
    // world around it (PostgreSQL stopped) would land in the next step.
    if (closed || hit !== undefined || fault === undefined || !armed) return;
    // A fault of the world around the run (PostgreSQL stopped, an SSH link cut): act says what it hit, if anything.
    if (fault.act) {
      const what = fault.act();
      if (what) hit = `${what} in ${step}`;
      return;
    }
    if (fault.kind === 'kill-run') {
      if (kill(child.pid)) hit = `sendense-run in ${step}`;
      return;
    }
    // kill-child: one of the run's processes now, chosen by pick; none yet: wait for the next moment.
    const live = descendants(child.pid);
    if (live.length === 0) return;
    const victim = live[Math.min(live.length - 1, Math.floor(fault.pick * live.length))];
    const name = childName(commandOf(victim.pid));
    if (kill(victim.pid)) hit = `${name} in ${step}`;
  };
  const delay =
    fault?.delayMs === undefined
      ? undefined
      : setTimeout(() => {
          armed = true;
          tryFault();
        }, fault.delayMs);
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
    for (const match of chunk.toString().matchAll(/"type":"step-start","step":"([^"]+)"/g)) step = match[1];
    if (watch) {
      const whole = (pending + chunk.toString()).split('\n');
      pending = whole.pop();
      for (const line of whole) watch(line, (signal) => closed || child.kill(signal));
    }
    const count = chunk.toString().split('\n').length - 1;
    lines += count;
    note();
    if (fault?.event !== undefined && lines >= fault.event) armed = true;
    tryFault();
  });
  child.stderr.on('data', (chunk) => (stderr += chunk));
  // Reaped: its PID is free for another process from now on.
  child.once('exit', () => (closed = true));
  const poll = setInterval(() => {
    note();
    tryFault();
  }, 15);
  // A run that has not ended in RUN_TIMEOUT_MS is stopped (with what it started) and said so: hung.
  let timedOut = false;
  let hungProcesses = [];
  const timer = setTimeout(() => {
    timedOut = true;
    // What was still running, for the violation: the command and its children, as /proc shows them.
    hungProcesses = [...noted.values()].filter(stillRunning).map((entry) => childName(entry.command));
    kill(child.pid);
    for (const entry of noted.values()) if (stillRunning(entry)) kill(entry.pid);
  }, RUN_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.once('close', (exitCode, signal) => {
      closed = true;
      running.delete(child);
      clearInterval(poll);
      clearTimeout(timer);
      clearTimeout(delay);
      resolve({ exitCode, signal, stdout, stderr, noted: [...noted.values()], hit, timedOut, step, hungProcesses });
    });
  });
}
