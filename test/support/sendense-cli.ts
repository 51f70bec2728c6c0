// The real `sendense-run` CLI for end-to-end tests: plans written as YAML, runs through
// bin/sendense-run.js (needs `npm run build`), and what a user would look at afterwards.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { stringify } from 'yaml';

export const BIN = path.resolve('bin/sendense-run.js');

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
  /** Inclusive port range for the run's qemu-nbd leases. */
  readonly ports: readonly [number, number];
  readonly incremental?: { readonly onMissingChain?: 'full' | 'fail'; readonly maxChainLength?: number };
}

// Writes the plan as a YAML file in dir and returns its path.
export function writePlan(dir: string, plan: TestPlan): string {
  const doc = {
    version: 1,
    kind: plan.kind ?? 'incremental',
    name: plan.name,
    vm: { name: plan.vm, source: { type: 'qemu', disks: plan.disks.map((disk) => ({ ...disk })) } },
    repository: { path: plan.repository },
    nbd: { ports: `${plan.ports[0]}-${plan.ports[1]}` },
    ...(plan.incremental ? { incremental: { ...plan.incremental } } : {}),
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

// Runs the CLI to the end; never throws on a non-zero exit.
export async function sendenseRun(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  const result = await execa(process.execPath, [BIN, ...args], { reject: false, env: { CI: '1', ...env }, timeout: 110_000 });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

// Starts the CLI with --json events and lets the test act while it runs (signals, kills).
export function startSendenseRun(args: readonly string[]): ResultPromise<{ reject: false; buffer: true; lines: true }> {
  return execa(process.execPath, [BIN, ...args], { reject: false, buffer: true, lines: true, env: { CI: '1' } });
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
  readonly type: 'full' | 'incremental';
  readonly chainId: string;
  readonly parentId: string | null;
  readonly status: string;
  readonly bytes: number | null;
  readonly restorable: boolean;
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
