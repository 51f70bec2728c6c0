// The real `sendense-run` CLI for end-to-end tests: plans written as YAML, runs through
// bin/sendense-run.js (needs `npm run build`), and what a user would look at afterwards.

import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { watchProgress } from './tree-progress.js';

export const BIN = path.resolve('bin/sendense-run.js');

// The CLI runs from dist/: say so plainly instead of failing every test with a module error,
// and warn when the sources are newer than the build (the tests would run old code).
const BUILT = path.resolve('dist/cli/main.js');
if (!existsSync(BUILT) || !existsSync(path.resolve('runners/dist/sendense-transfer.mjs'))) {
  throw new Error('the end-to-end tests run the built CLI: run `npm run build` first (scripts/test.sh does)');
}
const newer = (readdirSync(path.resolve('src'), { recursive: true }) as string[]).filter(
  (file) => file.endsWith('.ts') && statSync(path.resolve('src', file)).mtimeMs > statSync(BUILT).mtimeMs,
);
if (newer.length > 0)
  console.warn(`warning: src/${newer[0]} (and ${newer.length - 1} more) changed since the last npm run build`);

export interface PlanDisk {
  readonly key: number;
  readonly path: string;
  readonly format?: 'qcow2' | 'raw';
}

export interface TestPlan {
  readonly name: string;
  readonly kind?: 'backup' | 'incremental';
  readonly vm: string;
  readonly disks: readonly PlanDisk[];
  readonly repository: string;
  /** repository.compression (docs/encryption.md#compression). */
  readonly compression?: 'zstd' | 'none';
  /** Inclusive port range for the run's qemu-nbd leases. */
  readonly ports: readonly [number, number];
  readonly incremental?: { readonly onMissingChain?: 'full' | 'fail'; readonly maxChainLength?: number };
  /** e.g. { transfer: '1s' } */
  readonly timeouts?: { readonly transfer: string };
  /** The plan's rate, e.g. '16MiB/s' (docs/bandwidth.md). */
  readonly rate?: string;
  /** e.g. { keepLast: 2 } (docs/how-it-works.md#retention). */
  readonly retention?: Readonly<Record<string, number>>;
  /** What a run does when another plan's run holds the VM (docs/how-it-works.md#busy-vms). */
  readonly busy?: 'skip' | 'fail' | { readonly wait: string };
}

// Writes the plan as a YAML file in dir and returns its path.
export function writePlan(dir: string, plan: TestPlan): string {
  const doc = {
    version: 1,
    kind: plan.kind ?? 'incremental',
    name: plan.name,
    vm: { name: plan.vm, source: { type: 'qemu', disks: plan.disks.map((disk) => ({ ...disk })) } },
    repository: { path: plan.repository, ...(plan.compression ? { compression: plan.compression } : {}) },
    nbd: { ports: `${plan.ports[0]}-${plan.ports[1]}` },
    ...(plan.incremental ? { incremental: { ...plan.incremental } } : {}),
    ...(plan.timeouts ? { timeouts: { ...plan.timeouts } } : {}),
    ...(plan.rate ? { rate: plan.rate } : {}),
    ...(plan.retention ? { retention: { ...plan.retention } } : {}),
    ...(plan.busy ? { busy: plan.busy } : {}),
  };
  const file = path.join(dir, `${plan.name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

export interface CliResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

// A CLI run is stopped only after this long without CPU time used (by it or its children) or a
// line printed: a loaded machine makes a run slower, which a total bound (110 s before) took
// for a failure, killing a copy or replicate run that was still working.
const CLI_QUIET_MS = 110_000;

// Runs the CLI to the end; never throws on a non-zero exit. A run stopped for lack of progress
// says so on its stderr.
export async function sendenseRun(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = execa(process.execPath, [BIN, ...args], { reject: false, env: { CI: '1', ...env } });
  let printed = 0;
  child.stdout?.on('data', (chunk: Buffer) => (printed += chunk.length));
  child.stderr?.on('data', (chunk: Buffer) => (printed += chunk.length));
  let stalled = false;
  const stop = watchProgress(
    child.pid!,
    () => printed,
    CLI_QUIET_MS,
    () => {
      stalled = true;
      child.kill('SIGTERM');
    },
  );
  const result = await child.finally(stop);
  const said = stalled
    ? `\ntest harness: sendense-run (PID ${child.pid}) used no CPU and printed nothing for ${CLI_QUIET_MS / 1000} s: stopped`
    : '';
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) + said };
}

export interface RunningCli {
  readonly pid: number;
  /** Resolves with the first --json event the predicate accepts (rejects if the run ends first). */
  waitForEvent(accept: (event: RunEventLine) => boolean): Promise<RunEventLine>;
  readonly exited: Promise<{
    readonly exitCode: number | null;
    readonly signal: NodeJS.Signals | null;
    readonly stdout: string;
    readonly stderr: string;
  }>;
}

// Starts `sendense-run ARGS --json` and lets the test act while it runs (signals, kills).
export function startSendenseRun(args: readonly string[], env: Record<string, string> = {}): RunningCli {
  const child = spawn(process.execPath, [BIN, ...args, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: '1', ...env },
  });
  let stdout = '';
  let stderr = '';
  let pending = '';
  const waiters: {
    accept: (event: RunEventLine) => boolean;
    resolve: (event: RunEventLine) => void;
    reject: (error: Error) => void;
  }[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    pending += chunk.toString();
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (!text.startsWith('{')) continue;
      const event = JSON.parse(text) as RunEventLine;
      for (const waiter of waiters.filter((w) => w.accept(event))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{
    exitCode: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) => {
    child.once('close', (exitCode, signal) => {
      for (const waiter of waiters.splice(0))
        waiter.reject(new Error(`the run ended (exit ${exitCode ?? signal}) first:\n${stdout}\n${stderr}`));
      resolve({ exitCode, signal, stdout, stderr });
    });
  });
  return {
    pid: child.pid!,
    waitForEvent: (accept) => new Promise((resolve, reject) => waiters.push({ accept, resolve, reject })),
    exited,
  };
}

export interface RunEventLine {
  readonly type: string;
  readonly step?: string;
  readonly message?: string;
  readonly summary?: string;
  readonly error?: string;
  readonly status?: string;
  readonly backupId?: string;
  readonly disk?: number;
  readonly bytesDone?: number;
  readonly bytesToDo?: number;
  readonly facts?: Record<string, unknown>;
}

// PIDs of the qemu-nbd targets a run stopped, from its plain cleanup lines.
export function stoppedQemuNbdPids(stdout: string): number[] {
  return [...stdout.matchAll(/stop qemu-nbd \(pid (\d+)\)/g)].map((match) => Number(match[1]));
}

export function parseEvents(stdout: string): RunEventLine[] {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as RunEventLine);
}

export interface BackupDiskRow {
  readonly diskKey: number;
  readonly file: string;
  readonly changeId: string | null;
  readonly bytes: number | null;
  readonly status: string;
  readonly bitmap: string | null;
}

export interface BackupRow {
  readonly id: string;
  readonly vm: string;
  readonly plan: string;
  readonly type: 'full' | 'incremental';
  readonly chainId: string;
  readonly parentId: string | null;
  readonly status: string;
  readonly repository: string;
  readonly startedAt: string;
  readonly bytes: number | null;
  readonly restorable: boolean;
  readonly protected: boolean;
  readonly encrypted: boolean;
  readonly disks: readonly BackupDiskRow[];
}

// `sendense-run backups --json`, oldest first.
export async function listBackups(db: string, vm?: string): Promise<BackupRow[]> {
  const result = await sendenseRun(['backups', '--json', '--db', db, ...(vm ? ['--vm', vm] : [])]);
  if (result.exitCode !== 0) throw new Error(`backups failed: ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as BackupRow);
}

// `sendense-run history --json`: run statuses, newest first.
export async function runStatuses(db: string): Promise<string[]> {
  const result = await sendenseRun(['history', '--json', '--db', db]);
  if (result.exitCode !== 0) throw new Error(`history failed: ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { status: string }).status);
}
