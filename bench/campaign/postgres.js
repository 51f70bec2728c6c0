// A real PostgreSQL server for the campaign's `postgres` mode: initdb in a directory of its own,
// 127.0.0.1 at a free port, one database per workspace; the `pg-restart` fault stops it by its
// PID (SIGKILL of the postmaster and of each of its processes, SIGQUIT or SIGINT) and starts it
// again on the same data directory and port. As root it runs as the `postgres` user through
// setpriv, which execs: the PID held is the postmaster's (as test/support/postgres-server.ts).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../support/free-port.js';
import { descendants, stillRunning } from './run-cli.js';

const USER = 'sendense';

function binDir() {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  for (const version of versions)
    if (existsSync(join(root, version, 'bin', 'postgres'))) return join(root, version, 'bin');
  throw new Error(
    `PostgreSQL server binaries not found under ${root}/*/bin: install the postgresql package (scripts/setup.sh does)`,
  );
}

// postgres refuses to run as root: the postgres user then.
function runAs() {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag) => Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return {
    uid: id('-u'),
    gid: id('-g'),
    prefix: ['setpriv', `--reuid=${id('-u')}`, `--regid=${id('-g')}`, '--init-groups', '--'],
  };
}

function command(user, file, args) {
  return user === undefined ? [file, args] : [user.prefix[0], [...user.prefix.slice(1), file, ...args]];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class PostgresServer {
  constructor(parent) {
    this.bin = binDir();
    this.user = runAs();
    this.dir = mkdtempSync(join(parent, 'sendense-campaign-pg-'));
    if (this.user) {
      chmodSync(this.dir, 0o700);
      chownSync(this.dir, this.user.uid, this.user.gid);
    }
    this.data = join(this.dir, 'data');
    this.child = undefined;
    this.log = '';
    this.count = 0;
    this.restarting = Promise.resolve();
  }

  async start() {
    const [initFile, initArgs] = command(this.user, join(this.bin, 'initdb'), [
      '-D',
      this.data,
      '-U',
      USER,
      '--auth=trust',
      '-N',
      '-E',
      'UTF8',
      '--locale=C',
    ]);
    const init = spawnSync(initFile, initArgs, { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.error?.message}`);
    this.port = await freePort();
    await this.#launch();
  }

  async #launch() {
    const args = [
      '-D',
      this.data,
      '-h',
      '127.0.0.1',
      '-p',
      String(this.port),
      '-k',
      this.dir,
      '-c',
      'fsync=off',
      '-c',
      'max_connections=200',
    ];
    const [file, argv] = command(this.user, join(this.bin, 'postgres'), args);
    const child = spawn(file, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (chunk) => (this.log = (this.log + chunk).slice(-4000)));
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', resolve));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`postgres exited at start: ${this.log}`);
      try {
        await this.#query('postgres', 'select 1');
        return;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`postgres did not accept connections within 60 s: ${error.message}\n${this.log}`, {
            cause: error,
          });
        await sleep(50);
      }
    }
  }

  url(database) {
    return `postgres://${USER}@127.0.0.1:${this.port}/${database}`;
  }

  async createDatabase() {
    await this.restarting;
    const name = `campaign_${process.pid}_${++this.count}`;
    await this.#query('postgres', `create database "${name}" template template0`);
    return this.url(name);
  }

  async #query(database, text) {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: this.port,
      user: USER,
      database,
      connectionTimeoutMillis: 5000,
    });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query(text)).rows;
    } finally {
      await client.end();
    }
  }

  // Rows of a query on a workspace's database (its URL).
  async rows(url, text) {
    await this.restarting;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query(text)).rows;
    } finally {
      await client.end();
    }
  }

  // The fault: stopped now (how: 'kill' = SIGKILL of the postmaster and each of its processes, by
  // PID; 'immediate' = SIGQUIT; 'fast' = SIGINT), started again `downMs` after it has exited.
  // Returns at once; `ready()` resolves once it accepts connections again.
  crash(how, downMs) {
    const child = this.child;
    const backends = descendants(child.pid);
    if (how === 'kill') {
      child.kill('SIGKILL');
      for (const entry of backends) {
        try {
          process.kill(entry.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    } else child.kill(how === 'immediate' ? 'SIGQUIT' : 'SIGINT');
    this.restarting = (async () => {
      await this.exited;
      // Every process of the old server gone (a new postmaster refuses while one holds its memory).
      for (let tries = 0; tries < 400 && backends.some(stillRunning); tries++) await sleep(25);
      await sleep(downMs);
      await this.#launch();
    })();
    return this.restarting;
  }

  ready() {
    return this.restarting;
  }

  async stop() {
    await this.restarting.catch(() => {});
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGINT');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  // Synchronous last resort on exit: SIGKILL of the postmaster, the directory removed.
  killNow() {
    try {
      this.child?.kill('SIGKILL');
    } catch {
      // gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
