// Node.js 22.1 and later keep the CLI's compiled code between runs (faster start-up). The cache is
// code that runs as whoever runs sendense-run (often root): it lives in that user's own cache
// directory, 0700, never in the shared default under /tmp. Node.js 20 has no such cache.

import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sendenseRun } from '../support/sendense-cli.js';

const HAS_CACHE = typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';
let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'cli-compile-cache-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the compile cache', () => {
  it.skipIf(!HAS_CACHE)(
    'is kept under XDG_CACHE_HOME/sendense-run/compile-cache (0700), not in the temp dir',
    async () => {
      const shared = path.join(dir, 'tmp');
      const cache = path.join(dir, 'cache');
      const result = await sendenseRun(['--version'], { XDG_CACHE_HOME: cache, TMPDIR: shared });
      expect(result.exitCode, result.stderr).toBe(0);
      const own = path.join(cache, 'sendense-run', 'compile-cache');
      expect(statSync(own).mode & 0o777).toBe(0o700);
      expect(readdirSync(own).length).toBeGreaterThan(0);
      expect(existsSync(path.join(shared, 'node-compile-cache'))).toBe(false);
    },
  );

  it.skipIf(!HAS_CACHE)('NODE_DISABLE_COMPILE_CACHE turns it off', async () => {
    const cache = path.join(dir, 'cache');
    const result = await sendenseRun(['--version'], { XDG_CACHE_HOME: cache, NODE_DISABLE_COMPILE_CACHE: '1' });
    expect(result.exitCode, result.stderr).toBe(0);
    const own = path.join(cache, 'sendense-run', 'compile-cache');
    expect(existsSync(own) ? readdirSync(own) : []).toEqual([]);
  });
});
