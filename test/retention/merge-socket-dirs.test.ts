// A merge serves files through qemu-nbd on a socket in a private directory of the temp dir
// (sendense-merge-*). A merge stopped by kill -9 leaves that directory, empty once doctor has
// stopped its qemu-nbd; the next merge removes the empty ones a minute old. A directory with
// something in it, a fresh one and one that is not a directory stay; the kept points are exact.

import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { backUpPoints, expectPointsExact, writeRetentionPlan } from './point-chain.js';

const ws = useRunWorkspace('merge-dirs-');
const ports = portRangeForTestFile();
const planted: string[] = [];
afterEach(() => {
  for (const dir of planted.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function plant(age: 'old' | 'fresh', content?: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-merge-'));
  planted.push(dir);
  if (content !== undefined) writeFileSync(path.join(dir, 'nbd.sock'), content);
  if (age === 'old') utimesSync(dir, new Date(Date.now() - 300_000), new Date(Date.now() - 300_000));
  return dir;
}

describe('merge socket directories left by a kill -9', () => {
  it(
    'the next merge removes the empty ones a minute old and nothing else; kept points stay exact',
    { timeout: 120_000 },
    async () => {
      const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 3);
      const stale = [plant('old'), plant('old')];
      const busy = plant('old', 'a socket');
      const fresh = plant('fresh');

      const plan = writeRetentionPlan(chain, { keepLast: 2 });
      const prune = await sendenseRun(['prune', plan, '--db', ws.db]);
      expect(prune.exitCode, `${prune.stdout}\n${prune.stderr}`).toBe(0);
      expect(prune.stdout).toContain('1 point(s) merged');

      expect(stale.map((dir) => existsSync(dir))).toEqual([false, false]);
      expect([existsSync(busy), existsSync(path.join(busy, 'nbd.sock')), existsSync(fresh)]).toEqual([
        true,
        true,
        true,
      ]);
      expect(await expectPointsExact(chain)).toEqual(chain.ids.slice(1));
    },
  );
});
