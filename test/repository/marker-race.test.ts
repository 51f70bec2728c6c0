// Two runs making one new repository at once: the marker is there whole or not at all, never
// empty or half-written for the one that reads it (it once read as "damaged (not JSON)").

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ensureRepositoryMarker, readRepositoryMarker, REPOSITORY_MARKER } from '../../src/repository/marker.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

it('readers racing the writers never find the marker empty, and only the marker is left', async () => {
  const settings = { encryption: 'none', compression: 'none' } as const;
  for (let round = 0; round < 200; round++) {
    const repository = mkdtempSync(path.join(tmpdir(), 'marker-race-'));
    dirs.push(repository);
    const read = async () => {
      for (let i = 0; i < 20; i++) await readRepositoryMarker(repository);
    };
    await Promise.all([ensureRepositoryMarker(repository, settings), read(), ensureRepositoryMarker(repository, settings), read()]);
    expect((await readRepositoryMarker(repository))?.encryption).toBe('none');
    expect(readdirSync(repository)).toEqual([REPOSITORY_MARKER]);
  }
});
