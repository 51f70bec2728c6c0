// Which repository holds a restore target (src/repository/containing-repository.ts): the node-side
// search for a repository marker at or above the path always ends. It once cut names off with
// $(dirname ...): a dirname that was killed (the fault campaign's hung restore) or could not run
// left the path empty, then ".", and the search spun for ever.

import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalNode } from '../../src/node/local.js';
import type { NodeHost } from '../../src/node/node.js';
import { REPOSITORY_MARKER } from '../../src/repository/marker.js';
import { repositoryHolding } from '../../src/repository/containing-repository.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

// This host, whose commands find only sh and realpath on their PATH (no dirname, no basename).
function bareNode(bin: string): NodeHost {
  const node = createLocalNode();
  mkdirSync(bin);
  for (const tool of ['sh', 'realpath']) symlinkSync(`/usr/bin/${tool}`, path.join(bin, tool));
  return {
    ...node,
    exec: (argv, options) =>
      argv[0] === 'sh' ? node.exec(['/usr/bin/env', `PATH=${bin}`, ...argv], options) : node.exec(argv, options),
  };
}

describe('the repository holding a path', () => {
  it('finds the marker above a path, and says none when there is none, also without dirname on the PATH', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'containing-'));
    const repository = path.join(dir, 'repo');
    mkdirSync(path.join(repository, 'vm', 'disk-2000'), { recursive: true });
    writeFileSync(path.join(repository, REPOSITORY_MARKER), '{}');
    chmodSync(dir, 0o700);
    for (const node of [createLocalNode(), bareNode(path.join(dir, 'bin'))]) {
      expect(await repositoryHolding(node, path.join(repository, 'vm', 'disk-2000', 'new.raw'), [])).toBe(repository);
      expect(await repositoryHolding(node, path.join(repository, 'not', 'there', 'yet.raw'), [])).toBe(repository);
      // No marker up to /: none (the search ends at /).
      expect(await repositoryHolding(node, path.join(dir, 'elsewhere', 'disk.raw'), [])).toBeUndefined();
      expect(await repositoryHolding(node, '/', [])).toBeUndefined();
    }
  }, 60_000);
});
