// A real PostgreSQL server for tests: initdb in a temp dir, listening on 127.0.0.1 at a free
// port, stopped (by its PID) and removed after. As root it runs as the `postgres` user (postgres
// refuses root), through setpriv, which execs: the PID we hold is the postmaster's. Missing
// binaries fail loudly — CI installs Debian's postgresql (scripts/setup.sh).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

export interface PostgresServer {
  readonly port: number;
  /** postgres://sendense@127.0.0.1:PORT/NAME (no password: trust on 127.0.0.1). */
  url(database: string): string;
  /** A new empty database (owned by `owner`, default POSTGRES_USER); its URL as POSTGRES_USER. */
  createDatabase(prefix?: string, owner?: string): Promise<string>;
  stop(): Promise<void>;
}

export const POSTGRES_USER = 'sendense';
/** A role that must give its password (scram-sha-256), to test where passwords come from. */
export const PASSWORD_USER = { name: 'sendense_pw', password: 'pw-7f3a9c' } as const;

// Debian keeps the server binaries out of PATH, one folder per major version.
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions) {
    const dir = path.join(root, version, 'bin');
    if (existsSync(path.join(dir, 'postgres')) && existsSync(path.join(dir, 'initdb'))) return dir;
  }
  throw new Error(
    `PostgreSQL server binaries not found under ${root}/*/bin: install the postgresql package (scripts/setup.sh does)`,
  );
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
  readonly prefix: readonly string[];
}

// postgres refuses to run as root: drop to the postgres user.
function runAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const uid = id('-u');
  const gid = id('-g');
  if (!Number.isInteger(uid) || uid <= 0)
    throw new Error('running as root but there is no postgres user to run PostgreSQL as');
  return { uid, gid, prefix: ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--'] };
}

// A temp dir the postgres user can enter (os.tmpdir() may sit under a 0700 directory).
function makeDir(user: RunAs | undefined): string {
  for (const base of [tmpdir(), '/tmp']) {
    const dir = mkdtempSync(path.join(base, 'sendense-pg-'));
    if (user === undefined) return dir;
    chmodSync(dir, 0o700);
    chownSync(dir, user.uid, user.gid);
    if (spawnSync(user.prefix[0]!, [...user.prefix.slice(1), 'test', '-w', dir]).status === 0) return dir;
    rmSync(dir, { recursive: true, force: true });
  }
  throw new Error('no temp directory the postgres user can write to');
}

function command(user: RunAs | undefined, file: string, args: readonly string[]): [string, string[]] {
  return user === undefined ? [file, [...args]] : [user.prefix[0]!, [...user.prefix.slice(1), file, ...args]];
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const user = runAs();
  const dir = makeDir(user);
  const data = path.join(dir, 'data');
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  try {
    const [initFile, initArgs] = command(user, path.join(bin, 'initdb'), [
      '-D',
      data,
      '-U',
      POSTGRES_USER,
      '--auth=trust',
      '-N',
      '-E',
      'UTF8',
      '--locale=C',
    ]);
    const init = spawnSync(initFile, initArgs, { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.error?.message}`);
    // The first matching line wins: PASSWORD_USER needs its password, everyone else is trusted.
    const hba = path.join(data, 'pg_hba.conf');
    writeFileSync(hba, `host all ${PASSWORD_USER.name} 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    const port = await freePort();
    const [file, args] = command(user, path.join(bin, 'postgres'), [
      '-D',
      data,
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
    ]);
    let log = '';
    child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
    const started = child;
    exited = new Promise((resolve) => started.once('exit', () => resolve()));
    await waitReady(port, started, () => log);
    await adminQuery(port, `create role ${PASSWORD_USER.name} login createdb password '${PASSWORD_USER.password}'`);
    let count = 0;
    const url = (database: string) => `postgres://${POSTGRES_USER}@127.0.0.1:${port}/${database}`;
    return {
      port,
      url,
      async createDatabase(prefix = 'test', owner = POSTGRES_USER) {
        const name = `${prefix}_${process.pid}_${++count}`;
        await adminQuery(port, `create database "${name}" owner ${owner} template template0`);
        return url(name);
      },
      stop: () => stop(started, exited, dir),
    };
  } catch (error) {
    if (child) await stop(child, exited, dir);
    else rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

// One query on a database by its URL (a test reading what the hubs wrote), on its own connection.
export async function queryRows<T>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

async function adminQuery(port: number, text: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: POSTGRES_USER, database: 'postgres' });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

// Bounded by progress: the wait goes on while the postmaster lives and writes to its log (a loaded
// machine makes its start slower, not stuck), and gives up after 30 s with no new line.
async function waitReady(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const started = Date.now();
  let moved = started;
  let seen = log();
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`postgres exited at start: ${log()}`);
    try {
      await adminQuery(port, 'select 1');
      return;
    } catch (error) {
      if (log() !== seen) [seen, moved] = [log(), Date.now()];
      if (Date.now() - moved > 30_000)
        throw new Error(
          `postgres (PID ${child.pid}) did not accept connections on 127.0.0.1:${port} and wrote nothing to its log for 30 s ` +
            `(${Math.round((Date.now() - started) / 1000)} s since its start): ${(error as Error).message}\n${log()}`,
          { cause: error },
        );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

// Fast shutdown (SIGINT) of exactly our postmaster; SIGKILL if it lingers.
async function stop(child: ChildProcess, exited: Promise<void>, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
}
