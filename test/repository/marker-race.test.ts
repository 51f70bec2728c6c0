// Two runs making one new repository at once: the marker is there whole or not at all, never
// empty or half-written for the one that reads it (it once read as "damaged (not JSON)"). And the
// temp file of a writer killed before its link is removed by the next run, and only that one.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
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
    await Promise.all([
      ensureRepositoryMarker(repository, settings),
      read(),
      ensureRepositoryMarker(repository, settings),
      read(),
    ]);
    expect((await readRepositoryMarker(repository))?.encryption).toBe('none');
    expect(readdirSync(repository)).toEqual([REPOSITORY_MARKER]);
  }
});

it("removes a killed writer's temp file, not a live writer's or a fresh one", async () => {
  const repository = mkdtempSync(path.join(tmpdir(), 'marker-temps-'));
  dirs.push(repository);
  const dead = spawnSync('true').pid;
  const temp = (pid: number, hex: string, minutesOld: number) => {
    const name = `${REPOSITORY_MARKER}.${pid}-${hex}.tmp`;
    writeFileSync(path.join(repository, name), '{"format":');
    const when = new Date(Date.now() - minutesOld * 60_000);
    utimesSync(path.join(repository, name), when, when);
    return name;
  };
  const killed = temp(dead, 'aaaaaaaa', 5);
  const fresh = temp(dead, 'bbbbbbbb', 0);
  const live = temp(process.pid, 'cccccccc', 5);
  writeFileSync(path.join(repository, 'not-a-marker-temp.tmp'), 'mine');
  await ensureRepositoryMarker(repository, { encryption: 'none', compression: 'none' });
  const left = readdirSync(repository).sort();
  expect(left).not.toContain(killed);
  expect(left).toEqual([REPOSITORY_MARKER, fresh, live, 'not-a-marker-temp.tmp'].sort());
});
