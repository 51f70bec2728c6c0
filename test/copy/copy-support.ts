// Copies for end-to-end tests (docs/copies.md): a real sshd on 127.0.0.1 for the test file, the
// offsite path on this same machine, copy plans as YAML files the real CLI runs, and what a user
// would look at afterwards (the copy's files, the run's counts, what is recorded).

import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { stringify } from 'yaml';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';
import { backupsOf, type PointChain } from '../retention/point-chain.js';
import { parseEvents, sendenseRun, type CliResult } from '../support/sendense-cli.js';
import { keepCopy, writeDisk } from '../support/vm-disks.js';
import { startSshd, type TestSshd } from '../support/sshd.js';

// Registers the file's hooks: one sshd for every test of the file.
export function useCopySshd(): { readonly sshd: TestSshd } {
  let sshd: TestSshd | undefined;
  beforeAll(async () => {
    sshd = await startSshd();
  }, 30_000);
  afterAll(async () => {
    await sshd?.stop();
  });
  return {
    get sshd() {
      if (sshd === undefined) throw new Error('the test sshd is not started');
      return sshd;
    },
  };
}

export interface CopyPlanOptions {
  readonly name?: string;
  readonly repository: string;
  readonly to: string;
  readonly vm?: string;
  readonly verify?: boolean;
  readonly keyFile?: string;
  /** Another port (an sshd that is not there). */
  readonly port?: number;
  /** copy.retention: the copy's own keep-* rules. */
  readonly retention?: Record<string, number>;
  /** The plan's rate, e.g. '16MiB/s' (docs/bandwidth.md). */
  readonly rate?: string;
}

export function writeCopyPlan(dir: string, sshd: TestSshd, options: CopyPlanOptions): string {
  const name = options.name ?? 'offsite';
  const doc = {
    version: 1,
    kind: 'copy',
    name,
    ...(options.vm === undefined ? {} : { vm: { name: options.vm } }),
    repository: {
      path: options.repository,
      ...(options.keyFile === undefined ? {} : { encryption: { keyFile: options.keyFile } }),
    },
    copy: {
      to: {
        type: 'ssh',
        node: {
          host: sshd.host,
          port: options.port ?? sshd.port,
          user: sshd.user,
          identityFile: sshd.identityFile,
          knownHosts: sshd.knownHosts,
        },
        path: options.to,
      },
      ...(options.verify === undefined ? {} : { verify: options.verify }),
      ...(options.retention === undefined ? {} : { retention: options.retention }),
    },
    ...(options.rate === undefined ? {} : { rate: options.rate }),
  };
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

/** What send-points reported (its step-done facts) and the run's bytes. */
export interface CopyCounts {
  readonly pointsSent: number;
  readonly pointsThere: number;
  readonly filesSent: number;
  readonly filesKept: number;
  readonly bytes: number;
}

// Runs the copy plan with --json; expects it to succeed and returns what it counted.
export async function runCopy(plan: string, db: string, env: Record<string, string> = {}): Promise<CopyCounts> {
  const result = await sendenseRun([plan, '--db', db, '--json'], env);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return copyCounts(result);
}

export function copyCounts(result: CliResult): CopyCounts {
  const done = parseEvents(result.stdout).find((event) => event.type === 'step-done' && event.step === 'send-points');
  expect(done?.facts, result.stdout).toBeDefined();
  return done!.facts as unknown as CopyCounts;
}

// The copy as a repository of its own: catalog import into a database of its own, then verify
// finds no damage. Returns that database.
export async function importedAndVerified(copy: string, copyDb: string): Promise<string> {
  const imported = await sendenseRun(['catalog', 'import', copy, '--db', copyDb]);
  expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
  const verified = await sendenseRun(['verify', '--db', copyDb]);
  expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
  expect(verified.stdout).toContain('no damage found');
  return copyDb;
}

// Files of a directory tree, relative, sorted ([] when it does not exist).
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

// The state database's rows of a table (what a run left recorded).
export function rows(db: string, table: string): unknown[] {
  const database = new Database(db);
  try {
    return database.prepare(`select * from ${table}`).all();
  } finally {
    database.close();
  }
}

// One more backup of the chain's VM: new data on both disks, kept as that point's source.
export async function backUpAgain(chain: PointChain, round: number): Promise<string> {
  writeDisk(chain.disks[0]!.path, [
    `write -P 0x${(0x60 + round).toString(16)} ${round * 3}M 512k`,
    `write -z ${round * 2 + 1}M 64k`,
  ]);
  writeDisk(chain.disks[1]!.path, [`write -P 0x${(0x70 + round).toString(16)} ${round}M 256k`]);
  const result = await sendenseRun([path.join(chain.dir, 'build.yaml'), '--db', chain.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  const id = (await backupsOf(chain)).at(-1)!.id;
  chain.ids.push(id);
  chain.copies[id] = Object.fromEntries(
    chain.disks.map((disk) => [disk.key, keepCopy(disk.path, path.join(chain.dir, `r${round}-${disk.key}.qcow2`))]),
  );
  return id;
}
