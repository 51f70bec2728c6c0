// The built CLI where another user (nobody) can run it. A checkout in /root or in a `mktemp -d`
// directory (0700) cannot be entered by nobody, so tests that run the CLI as nobody get a copy of
// the package (bin, dist, runners/dist, schemas, node_modules) in a world-readable temp dir.

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { BIN } from './sendense-cli.js';

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];

// setpriv's argv prefix to run something as nobody.
export function asNobody(argv: readonly string[]): string[] {
  return [...NOBODY, ...argv];
}

// Registers an afterAll that removes the copy; returns the bin path nobody can run.
export function useBinForOtherUsers(): { readonly bin: string } {
  let copy: string | undefined;
  afterAll(() => {
    if (copy !== undefined) rmSync(copy, { recursive: true, force: true });
  });
  return {
    get bin() {
      if (readableByNobody(BIN)) return BIN;
      if (copy === undefined) {
        copy = mkdtempSync(path.join(tmpdir(), 'sendense-run-package-'));
        chmodSync(copy, 0o755);
        const root = path.dirname(path.dirname(BIN));
        mkdirSync(path.join(copy, 'runners'));
        for (const part of ['package.json', 'bin', 'dist', 'runners/dist', 'schemas', 'node_modules']) {
          execFileSync('cp', ['-a', path.join(root, part), path.join(copy, part)]);
        }
      }
      return path.join(copy, 'bin', 'sendense-run.js');
    },
  };
}

function readableByNobody(file: string): boolean {
  return spawnSync('setpriv', [...NOBODY, 'test', '-r', file]).status === 0;
}
