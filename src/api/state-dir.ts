// Where the API keeps its own files (docs/api.md#serving-it): its self-signed certificate and key,
// and each task's event log. api.stateDir, else an `api` folder beside a SQLite state database,
// else the per-user state folder. Always 0700.

import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { HubConfig } from '../hub/hub-config.js';
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

export function makePrivateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
