// A protected point (docs/how-it-works.md#protected-points) through a prune: it stays byte for byte
// (the point before it is not merged into it), the others are merged away and stay exact; forget
// refuses it naming the protection; backups marks it; catalog import reads the mark back.

import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile, sha256 } from '../support/vm-disks.js';
import {
  backUpPoints,
  backupsOf,
  expectPointsExact,
  expectVerifyPasses,
  setTakenAt,
  writeRetentionPlan,
} from './point-chain.js';

const ws = useRunWorkspace('protect-');
const ports = portRangeForTestFile();

describe('protect', () => {
  it(
    'keeps a point out of prune and forget, byte for byte; catalog import restores the mark',
    { timeout: 300_000 },
    async () => {
      const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 5, 'vmk');
      setTakenAt(
        chain,
        Object.fromEntries(chain.ids.map((id, i) => [id, new Date(Date.UTC(2026, 0, 1 + i, 2)).toISOString()])),
      );
      const [, p1, p2, , p4] = chain.ids as [string, string, string, string, string];
      const marked = await sendenseRun(['protect', 'vmk', '--point', p2, '--db', ws.db]);
      expect(marked.exitCode, `${marked.stdout}\n${marked.stderr}`).toBe(0);
      const files = (await backupsOf(chain)).find((backup) => backup.id === p2)!.disks.map((disk) => disk.file);
      const sums = files.map(sha256);

      const shown = await sendenseRun(['backups', '--vm', 'vmk', '--db', ws.db]);
      expect(shown.stdout).toContain(`${p2} (protected)`);

      const plan = writeRetentionPlan(chain, { keepLast: 1 });
      const dry = await sendenseRun(['prune', plan, '--dry-run', '--db', ws.db]);
      expect(dry.stdout).toContain(
        `${p2} (incremental, ${new Date(Date.UTC(2026, 0, 3, 2)).toISOString()}): keep (protected)`,
      );
      expect(dry.stdout).toContain(`: keep (the next point ${p2} is protected: a merge would rewrite its file)`);
      const pruned = await sendenseRun(['prune', plan, '--db', ws.db]);
      expect(pruned.exitCode, `${pruned.stdout}\n${pruned.stderr}`).toBe(0);
      // p0 merged into p1, p3 into p4; p1 stays (a merge into p2 would rewrite it), p2 untouched.
      expect(await expectPointsExact(chain)).toEqual([p1, p2, p4]);
      expect(files.map(sha256)).toEqual(sums);
      await expectVerifyPasses(chain);

      const refused = await sendenseRun(['forget', 'vmk', '--point', p2, '--db', ws.db]);
      expect(refused.exitCode, `${refused.stdout}\n${refused.stderr}`).toBe(2);
      expect(refused.stderr).toContain(
        `forget refused: ${p2}: protected; sendense-run unprotect vmk --point ${p2} first`,
      );
      expect(await expectPointsExact(chain)).toEqual([p1, p2, p4]);

      // The repository carries the mark: a new database rebuilt from it has p2 protected.
      const db = path.join(ws.dir, 'rebuilt.db');
      const imported = await sendenseRun(['catalog', 'import', ws.repository, '--db', db]);
      expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
      expect((await backupsOf({ ...chain, db })).map((backup) => [backup.id, backup.protected])).toEqual([
        [p1, false],
        [p2, true],
        [p4, false],
      ]);

      const freed = await sendenseRun(['unprotect', 'vmk', '--point', p2, '--db', ws.db]);
      expect(freed.exitCode, `${freed.stdout}\n${freed.stderr}`).toBe(0);
      const again = await sendenseRun(['prune', plan, '--db', ws.db]);
      expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
      expect(await expectPointsExact(chain)).toEqual([p4]);
    },
  );

  it(
    'a symlink put where its marker goes is not followed: the file it points to stays as it was',
    {
      timeout: 300_000,
    },
    async () => {
      const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 1, 'vml');
      const id = chain.ids[0]!;
      const outside = path.join(ws.dir, 'outside.conf');
      writeFileSync(outside, 'not ours\n');
      mkdirSync(path.join(ws.repository, 'vml', 'protected'), { recursive: true });
      symlinkSync(outside, path.join(ws.repository, 'vml', 'protected', id));
      const refused = await sendenseRun(['protect', 'vml', '--point', id, '--db', ws.db]);
      expect(refused.exitCode, `${refused.stdout}\n${refused.stderr}`).toBe(1);
      expect(refused.stderr).toContain('is a symlink, which is not followed');
      expect(refused.stderr).not.toMatch(/\n\s+at /);
      expect(readFileSync(outside, 'utf8')).toBe('not ours\n');
      expect((await backupsOf(chain)).map((backup) => backup.protected)).toEqual([false]);
    },
  );
});
