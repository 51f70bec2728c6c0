// forget on a real chain (docs/how-it-works.md#forget): a middle point merged into the next one
// (every point left still reads exactly as the source did), a whole chain removed with its files
// and its bitmap on the source, damaged points refused or removed with --damaged.

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';
import { flipBit } from '../verify/chain-fixture.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { bitmapNames, portRangeForTestFile } from '../support/vm-disks.js';
import { backUpPoints, backupsOf, expectPointsExact, expectVerifyPasses, writeRetentionPlan } from './point-chain.js';

const ws = useRunWorkspace('forget-');
const ports = portRangeForTestFile();

const forget = (vm: string, ...args: string[]) => sendenseRun(['forget', vm, ...args, '--db', ws.db]);

describe('forget', () => {
  it(
    'merges a middle point into the next one and removes a whole chain with its bitmaps',
    { timeout: 300_000 },
    async () => {
      const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 4, 'vmf');
      const [p0, p1, p2, p3] = chain.ids as [string, string, string, string];

      const dry = await forget('vmf', '--point', p1, '--dry-run');
      expect(dry.exitCode, `${dry.stdout}\n${dry.stderr}`).toBe(0);
      expect(dry.stdout.trim()).toMatch(
        new RegExp(`^${p1} \\(incremental, complete, .*\\): would be merged into ${p2}$`),
      );
      expect(await expectPointsExact(chain)).toEqual(chain.ids);

      const gone = (await backupsOf(chain)).find((backup) => backup.id === p1)!.disks.map((disk) => disk.file);
      const done = await forget('vmf', '--point', p1);
      expect(done.exitCode, `${done.stdout}\n${done.stderr}`).toBe(0);
      expect(done.stdout).toMatch(new RegExp(`^${p1} \\(incremental, complete, .*\\): merged into ${p2}$`, 'm'));
      expect(await expectPointsExact(chain)).toEqual([p0, p2, p3]);
      for (const file of gone) expect(existsSync(file), file).toBe(false);
      await expectVerifyPasses(chain);

      // The whole chain: newest first, each removed once nothing stands on it; the source's bitmap goes too.
      expect(chain.disks.flatMap((disk) => bitmapNames(disk.path))).toHaveLength(2);
      const files = (await backupsOf(chain)).flatMap((backup) => backup.disks.map((disk) => disk.file));
      const whole = await forget('vmf', '--chain', p0);
      expect(whole.exitCode, `${whole.stdout}\n${whole.stderr}`).toBe(0);
      expect(
        whole.stdout
          .trim()
          .split('\n')
          .map((line) => line.split(' ')[0]),
      ).toEqual([p3, p2, p0]);
      expect(whole.stdout).toContain(`${p0} (full, complete, `);
      expect(await backupsOf(chain)).toEqual([]);
      for (const file of files) expect(existsSync(file), file).toBe(false);
      expect(chain.disks.flatMap((disk) => bitmapNames(disk.path))).toEqual([]);

      // The next run starts a new chain and doctor finds nothing left behind.
      const next = await sendenseRun([writeRetentionPlan(chain, undefined, 'build'), '--db', ws.db]);
      expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
      expect((await backupsOf(chain)).map((backup) => backup.type)).toEqual(['full']);
      const doctor = await sendenseRun(['doctor', '--dry-run', '--db', ws.db]);
      expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    },
  );

  it(
    'refuses a damaged point a complete point reads through; --damaged removes damaged points and prune lists them',
    { timeout: 300_000 },
    async () => {
      const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 3, 'vmd');
      const [p0, p1, p2] = chain.ids as [string, string, string];
      flipBit((await backupsOf(chain))[2]!.disks[0]!.file, 'data cluster');
      const verify = await sendenseRun(['verify', '--vm', 'vmd', '--db', ws.db]);
      expect(verify.exitCode, `${verify.stdout}\n${verify.stderr}`).toBe(1);
      expect((await backupsOf(chain)).map((backup) => backup.status)).toEqual(['complete', 'complete', 'damaged']);

      // prune lists the damaged point with what is done with it.
      const dry = await sendenseRun(['prune', writeRetentionPlan(chain, { keepLast: 1 }), '--dry-run', '--db', ws.db]);
      expect(dry.exitCode, `${dry.stdout}\n${dry.stderr}`).toBe(0);
      expect(dry.stdout).toMatch(
        new RegExp(
          `${p2} \\(incremental, .*\\): keep \\(damaged: not a restore point, never merged; forget --damaged removes it\\)`,
        ),
      );
      expect(dry.stdout).toMatch(new RegExp(`${p1} \\(incremental, .*\\): keep \\(last 1\\)`));

      // A complete point under the damaged one cannot be forgotten alone: it would be merged into damage.
      const under = await forget('vmd', '--point', p1);
      expect(under.exitCode, `${under.stdout}\n${under.stderr}`).toBe(2);
      expect(under.stderr).toContain(
        `forget refused: ${p1}: the point built on it, ${p2}, is damaged: forget that first (--damaged)`,
      );

      // A damaged point a complete point reads through (the damage cleared on the later one by hand).
      const db = new Database(ws.db);
      try {
        db.prepare('update backups set damage = ? where id = ?').run('test', p1);
        db.prepare('update backups set damage = null where id = ?').run(p2);
      } finally {
        db.close();
      }
      const reads = await forget('vmd', '--damaged');
      expect(reads.exitCode, `${reads.stdout}\n${reads.stderr}`).toBe(2);
      expect(reads.stderr).toContain(`forget refused: ${p1}: it is damaged and complete point ${p2} reads through it`);
      expect(reads.stderr).toContain('nothing was changed');
      expect((await backupsOf(chain)).map((backup) => backup.id)).toEqual([p0, p1, p2]);
      const back = new Database(ws.db);
      try {
        back.prepare('update backups set damage = null where id = ?').run(p1);
        back.prepare('update backups set damage = ? where id = ?').run('test', p2);
      } finally {
        back.close();
      }

      const file = (await backupsOf(chain))[2]!.disks[0]!.file;
      const removed = await forget('vmd', '--damaged');
      expect(removed.exitCode, `${removed.stdout}\n${removed.stderr}`).toBe(0);
      expect(removed.stdout.trim()).toMatch(
        new RegExp(`^${p2} \\(incremental, damaged, .*\\): removed \\(nothing stands on it\\)$`),
      );
      expect(existsSync(file)).toBe(false);
      expect(await expectPointsExact(chain)).toEqual([p0, p1]);
      await expectVerifyPasses(chain);
    },
  );
});
