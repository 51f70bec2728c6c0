// Where the API keeps its own files (docs/api.md#serving-it): its self-signed certificate and key,
// and each task's event log. api.stateDir, else an `api` folder beside a SQLite state database,
// else the per-user state folder. Always 0700: one we make is made so; an existing one of this
// user's that others may enter is tightened (and the caller told, to say so); one of another user's,
// or a symlink to one others may enter, is refused (never chmod-ed through a link or for someone else).

import { closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { HubConfig } from '../hub/hub-config.js';
import { SendenseError } from '../errors.js';
import { isPostgresUrl } from '../store/database-target.js';

export function apiStateDir(dbPath: string, hub: HubConfig, env: NodeJS.ProcessEnv = process.env): string {
  if (hub.api?.stateDir) return hub.api.stateDir;
  if (!isPostgresUrl(dbPath)) return path.join(path.dirname(path.resolve(dbPath)), 'api');
  if (process.getuid?.() === 0) return '/var/lib/sendense/api';
  const stateHome =
    env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME)
      ? env.XDG_STATE_HOME
      : path.join(homedir(), '.local', 'state');
  return path.join(stateHome, 'sendense', 'api');
}

/** `tightened`: told the mode an existing folder had when it was made 0700. */
export function makePrivateDir(dir: string, tightened?: (was: string) => void): string {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    checkPrivate(dir, tightened);
    return dir;
  } catch (error) {
    if (error instanceof SendenseError) throw error;
    throw new SendenseError(`cannot make the API's state folder ${dir}: ${(error as Error).message}`, { cause: error });
  }
}

function checkPrivate(dir: string, tightened?: (was: string) => void): void {
  if (lstatSync(dir).isSymbolicLink()) {
    const target = statSync(dir);
    if (!target.isDirectory()) throw refusal(dir, 'a symlink to something that is not a directory');
    if ((target.mode & 0o077) !== 0)
      throw refusal(
        dir,
        `a symlink to a directory of mode ${modeText(target.mode)}: others may enter it (make it 0700)`,
      );
    return;
  }
  // Opened without following a link, then checked and tightened through that one descriptor.
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    const info = fstatSync(fd);
    if ((info.mode & 0o077) === 0) return;
    const me = process.getuid?.();
    if (info.uid !== me)
      throw refusal(
        dir,
        `open to other users (mode ${modeText(info.mode)}) and owned by uid ${info.uid}, not by this user (uid ${me}): make it 0700, owned by the user the API runs as`,
      );
    fchmodSync(fd, 0o700);
    tightened?.(modeText(info.mode));
  } finally {
    closeSync(fd);
  }
}

function refusal(dir: string, why: string): SendenseError {
  return new SendenseError(`the API's state folder ${dir} (api.stateDir, docs/api.md#serving-it) is ${why}`);
}

function modeText(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}
