// Where the state lives: a SQLite file (a path) or a PostgreSQL database (postgres:// or
// postgresql:// URL, docs/how-it-works.md#scale). A URL never carries a password: it would be on the command
// line, in `ps` and in shell history. The password comes from PGPASSWORD, ~/.pgpass (libpq's
// rules, read by `pg`) or the file named by $SENDENSE_DB_PASSWORD_FILE.

import { readFileSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { SendenseError } from '../errors.js';

export const PASSWORD_FILE_VARIABLE = 'SENDENSE_DB_PASSWORD_FILE';

export interface PostgresTarget {
  readonly host: string;
  readonly port: number;
  readonly user?: string;
  readonly database: string;
  /** Other URL parameters (sslmode, ...), passed to `pg` as they are. */
  readonly params: Readonly<Record<string, string>>;
  /** The URL as given (it has no password), for messages. */
  readonly display: string;
}

export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}

// A --db value or $SENDENSE_DB: a URL as it is (checked), a path made absolute; a directory is
// a usage error (docs/commands.md, --db), not a database SQLite fails to open.
export function resolveDatabase(value: string): string {
  if (!isPostgresUrl(value)) {
    const file = path.resolve(value);
    if (statOf(file)?.isDirectory()) {
      throw new SendenseError(
        `state database ${file} is a directory: give a file in it (--db ${path.join(file, 'sendense.db')})`,
        { exitCode: 2 },
      );
    }
    return file;
  }
  parsePostgresUrl(value);
  return value;
}

// A path this user may not look at is one line saying so, never a stack (docs/commands.md, --db).
function statOf(file: string): Stats | undefined {
  try {
    return statSync(file, { throwIfNoEntry: false });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? 'permission denied: this user may not enter a folder on its path (run as the user that owns it, or give another --db)'
        : code === 'ENOTDIR'
          ? 'a part of its path is a file, not a folder'
          : code === 'ELOOP'
            ? 'its path has a loop of symbolic links'
            : (code ?? String(error));
    throw new SendenseError(`cannot reach state database ${file}: ${why}`, { exitCode: 1, cause: error });
  }
}

export function parsePostgresUrl(value: string): PostgresTarget {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badUrl(
      value.replace(/(:\/\/[^/@:]*):[^/@]*@/, '$1:***@'),
      'it is not a valid URL (postgres://USER@HOST:PORT/DATABASE)',
    );
  }
  if (url.password !== '') {
    throw badUrl(
      redact(url),
      'it contains a password; put the password in PGPASSWORD, ~/.pgpass or the file named by $SENDENSE_DB_PASSWORD_FILE, never in the URL',
    );
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (database === '' || database.includes('/'))
    throw badUrl(value, 'it names no database (postgres://USER@HOST:PORT/DATABASE)');
  if (url.hostname === '') throw badUrl(value, 'it names no host (postgres://USER@HOST:PORT/DATABASE)');
  const port = url.port === '' ? 5432 : Number(url.port);
  const params: Record<string, string> = {};
  for (const [key, param] of url.searchParams) params[key] = param;
  if ('password' in params)
    throw badUrl(
      redact(url),
      'it contains a password parameter; use PGPASSWORD, ~/.pgpass or $SENDENSE_DB_PASSWORD_FILE',
    );
  return Object.freeze({
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port,
    ...(url.username ? { user: decodeURIComponent(url.username) } : {}),
    database,
    params: Object.freeze(params),
    display: value,
  });
}

// The password from $SENDENSE_DB_PASSWORD_FILE (first line), else undefined (then `pg` uses
// PGPASSWORD or ~/.pgpass).
export function passwordFromFile(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env[PASSWORD_FILE_VARIABLE];
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').split('\n')[0]!.replace(/\r$/, '');
  } catch (error) {
    throw new SendenseError(
      `cannot read the database password file ${file} ($${PASSWORD_FILE_VARIABLE}): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

function redact(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password !== '') copy.password = '***';
  if (copy.searchParams.has('password')) copy.searchParams.set('password', '***');
  return copy.href;
}

function badUrl(shown: string, why: string): SendenseError {
  return new SendenseError(`bad state database URL ${shown}: ${why}`, { exitCode: 2 });
}
