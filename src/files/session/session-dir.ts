// Where files sessions listen (docs/file-level-restore.md#files-sessions): one directory per
// session, 0700, in a base directory that is this user's alone — $XDG_RUNTIME_DIR/sendense-files,
// else `files-sessions` beside a SQLite state database, else the per-user state folder. Another
// local user is an adversary: before a socket is made or connected to, its directory and the base
// are checked to be real directories (not symlinks) owned by this user with no access for anyone
// else, and the socket a socket of this user's; anything else is refused, never "fixed".

import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { SendenseError } from '../../errors.js';
import { isPostgresUrl } from '../../store/database-target.js';

/** The socket's name in its session's directory. */
export const SESSION_SOCKET = 's.sock';
// sockaddr_un's sun_path: 108 bytes with the terminating NUL.
const MAX_SOCKET_PATH = 107;

export function sessionBaseDir(dbPath: string, env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && path.isAbsolute(runtime)) return path.join(runtime, 'sendense-files');
  if (!isPostgresUrl(dbPath)) return path.join(path.dirname(path.resolve(dbPath)), 'files-sessions');
  if (process.getuid?.() === 0) return '/var/lib/sendense/files-sessions';
  const stateHome =
    env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME)
      ? env.XDG_STATE_HOME
      : path.join(homedir(), '.local', 'state');
  return path.join(stateHome, 'sendense', 'files-sessions');
}

// The base made if need be (0700), then checked: one another user made or opened is refused.
export function ensureBaseDir(base: string): string {
  mkdirSync(base, { recursive: true, mode: 0o700 });
  checkPrivateDir(base);
  return base;
}

/** A new session directory's path (made by the session once it is recorded: makeSessionDir). */
export function newSessionDir(base: string): string {
  const dir = path.join(base, `s-${randomBytes(6).toString('hex')}`);
  if (Buffer.byteLength(path.join(dir, SESSION_SOCKET)) > MAX_SOCKET_PATH)
    throw new SendenseError(
      `a files session's socket in ${base} would have a path longer than a Unix socket's ${MAX_SOCKET_PATH} bytes: set XDG_RUNTIME_DIR, or use --no-session`,
    );
  return dir;
}

export function makeSessionDir(dir: string): void {
  mkdirSync(dir, { mode: 0o700 });
  checkPrivateDir(dir);
}

// The socket of a session directory, once the directory, its base and the socket are checked.
export function checkedSocket(dir: string): string {
  checkPrivateDir(path.dirname(dir));
  checkPrivateDir(dir);
  const socket = path.join(dir, SESSION_SOCKET);
  const info = lstatOrUndefined(socket);
  if (info === undefined) return socket; // not listening yet: connecting says so
  if (!info.isSocket() || info.uid !== myUid())
    throw refusal(
      socket,
      info.isSocket() ? `owned by uid ${info.uid}, not by this user (uid ${myUid()})` : 'not a socket',
    );
  return socket;
}

/** Refuses `dir` unless it is a directory (not a symlink) of this user's that no one else can enter. */
export function checkPrivateDir(dir: string): void {
  const info = lstatOrUndefined(dir);
  if (info === undefined) throw refusal(dir, 'it does not exist');
  if (info.isSymbolicLink()) throw refusal(dir, 'a symlink, not a directory');
  if (!info.isDirectory()) throw refusal(dir, 'not a directory');
  if (info.uid !== myUid()) throw refusal(dir, `owned by uid ${info.uid}, not by this user (uid ${myUid()})`);
  if ((info.mode & 0o077) !== 0)
    throw refusal(
      dir,
      `mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}: others may enter it (0700 is needed)`,
    );
}

function refusal(what: string, why: string): SendenseError {
  return new SendenseError(
    `refusing the files session directory ${what}: ${why}; sendense-run did not make it so for you — remove it, or use --no-session`,
  );
}

function lstatOrUndefined(file: string): Stats | undefined {
  try {
    return lstatSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function myUid(): number {
  return process.getuid?.() ?? -1;
}
