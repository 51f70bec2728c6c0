#!/usr/bin/env node
// Entry point of the package bin: the bundled CLI lives in dist/cli/ (npm run build).
import { mkdirSync } from 'node:fs';
import module from 'node:module';
import { homedir } from 'node:os';
import path from 'node:path';

// Node.js 22.1 and later can keep V8's compiled code of the bundle between runs: ~45 ms less
// start-up for every command. In this user's own cache directory (0700), not the default under the
// shared /tmp: code another user could write there would run as this one. NODE_COMPILE_CACHE set
// by the caller wins; NODE_DISABLE_COMPILE_CACHE turns it off. Node.js 20 has no such cache.
if (typeof module.enableCompileCache === 'function' && process.env.NODE_COMPILE_CACHE === undefined) {
  const xdg = process.env.XDG_CACHE_HOME; // a relative one is invalid (XDG base directory spec)
  const dir = path.join(
    xdg && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache'),
    'sendense-run',
    'compile-cache',
  );
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    module.enableCompileCache(dir);
  } catch {
    // A home without room or rights: start without the cache.
  }
}

const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
