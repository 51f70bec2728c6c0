// The processes a test's child started, found through /proc by parent PID (never by name), and
// the state database rows that say what a run holds (qemu-nbd PIDs, port leases).

import { readdirSync, readFileSync } from 'node:fs';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';

interface ProcEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly state: string;
}

function readEntry(pid: number): ProcEntry | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, state: fields[0], ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

// Every live (non-zombie) descendant of root: children, grandchildren, ...
export function descendantPids(root: number): number[] {
  const entries = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readEntry(Number(name)))
    .filter((entry): entry is ProcEntry => entry !== undefined && entry.state !== 'Z');
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const entry of entries) {
      if (entry.ppid === parent) {
        found.push(entry.pid);
        queue.push(entry.pid);
      }
    }
  }
  return found;
}

export function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

// Every distinct command line on this machine until `exited` settles (sampled as fast as /proc
// allows): what a secret must never be part of.
export async function commandLinesDuring(exited: Promise<unknown>): Promise<string[]> {
  const seen = new Set<string>();
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name)))
      seen.add(commandLine(Number(entry)).join(' '));
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return [...seen];
}

// qemu-nbd processes among pids (by what they run, for pids the test already owns).
export function qemuNbdAmong(pids: readonly number[]): number[] {
  return pids.filter((pid) => commandLine(pid)[0]?.endsWith('qemu-nbd'));
}

export interface DbProcess {
  readonly pid: number;
  readonly startTicks: number;
  readonly kind: string;
  readonly runId: string;
}

// Reads the state database the way another process would while a run holds it (WAL: no lock).
function withDb<T>(file: string, read: (db: InstanceType<typeof Database>) => T): T {
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

export function recordedProcesses(dbFile: string): DbProcess[] {
  return withDb(dbFile, (db) =>
    (
      db.prepare('select pid, start_ticks as startTicks, kind, run_id as runId from processes').all() as DbProcess[]
    ).map((row) => ({ ...row })),
  );
}

export function leasedPorts(dbFile: string): { port: number; runId: string }[] {
  return withDb(
    dbFile,
    (db) =>
      db.prepare('select port, run_id as runId from port_leases order by port').all() as {
        port: number;
        runId: string;
      }[],
  );
}

export function tableExists(dbFile: string, table: string): boolean {
  return withDb(
    dbFile,
    (db) => db.prepare("select 1 from sqlite_master where type='table' and name=?").get(table) !== undefined,
  );
}

// Live processes carrying the owner tag of the sendense-run with this PID (src/process/owner-tag.ts).
export function processesTaggedBy(ownerPid: number): { pid: number; command: string[] }[] {
  const prefix = `SENDENSE_OWNER=${ownerPid}:`;
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => readEntry(pid)?.state !== 'Z')
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/environ`, 'latin1')
          .split('\0')
          .some((entry) => entry.startsWith(prefix));
      } catch {
        return false;
      }
    })
    .map((pid) => ({ pid, command: commandLine(pid) }));
}

// Live processes whose command line names a path under dir (a qemu-nbd or qemu-img left on its files).
export function processesUnder(dir: string): { pid: number; command: string[] }[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => pid !== process.pid && readEntry(pid)?.state !== 'Z')
    .map((pid) => ({ pid, command: commandLine(pid) }))
    .filter(
      (entry) => entry.command.some((arg) => arg.includes(dir)) && !entry.command.some((arg) => arg.includes('vitest')),
    );
}

export function tableRows(dbFile: string, table: string): unknown[] {
  return withDb(dbFile, (db) => db.prepare(`select * from ${table}`).all());
}
