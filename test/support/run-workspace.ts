// A temp dir per test (or per file) holding a run's state database and repository; afterwards
// every qemu-nbd that database recorded is stopped by PID (a failed assertion may have left one)
// and the dir is removed.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { killIfAlive, type ProcessIdentity } from './processes.js';
import { recordedProcesses } from './process-tree.js';

export interface RunWorkspace {
  readonly dir: string;
  /** <dir>/state.db */
  readonly db: string;
  /** <dir>/<repository name> */
  readonly repository: string;
}

export interface RunWorkspaceOptions {
  /** The repository's folder name in the dir (default 'repository'). */
  readonly repository?: string;
  /** 'test' (default): a fresh dir for every test; 'file': one dir for all tests of the file. */
  readonly per?: 'test' | 'file';
}

// Registers the hooks; the returned object's fields are the current test's (read them inside tests).
export function useRunWorkspace(prefix: string, options: RunWorkspaceOptions = {}): RunWorkspace {
  let dir = '';
  const [before, after] = options.per === 'file' ? [beforeAll, afterAll] : [beforeEach, afterEach];
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), prefix));
  });
  after(() => {
    for (const recorded of processesRecordedIn(path.join(dir, 'state.db'))) killIfAlive(recorded);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      return dir;
    },
    get db() {
      return path.join(dir, 'state.db');
    },
    get repository() {
      return path.join(dir, options.repository ?? 'repository');
    },
  };
}

// None when there is no state database: a test may have left none, or a corrupt or foreign one.
function processesRecordedIn(db: string): ProcessIdentity[] {
  if (!existsSync(db)) return [];
  try {
    return recordedProcesses(db);
  } catch {
    return [];
  }
}
