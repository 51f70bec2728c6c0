// protect, unprotect and forget under --json (docs/json-events.md#forget---json): every line on
// stdout is one JSON object a tool can act on, saying what was done to which point, and the
// points are what those objects say.

import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { bitmapNames, portRangeForTestFile } from '../support/vm-disks.js';
import { backUpPoints, backupsOf, expectPointsExact, expectVerifyPasses } from './point-chain.js';

const ws = useRunWorkspace('forget-json-');
const ports = portRangeForTestFile();

// The objects on stdout; a line that is not JSON fails the test here.
async function json(
  args: readonly string[],
): Promise<{ exitCode: number; objects: Record<string, unknown>[]; stderr: string }> {
  const result = await sendenseRun([...args, '--db', ws.db, '--json']);
  const objects = result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { exitCode: result.exitCode ?? -1, objects, stderr: result.stderr };
}

describe('protect, unprotect and forget --json', () => {
  it('print one object each saying what was done, and do it', { timeout: 300_000 }, async () => {
    const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 4, 'vmj');
    const [p0, p1, p2, p3] = chain.ids as [string, string, string, string];
    const isProtected = async (id: string) => (await backupsOf(chain)).find((backup) => backup.id === id)!.protected;

    const marked = await json(['protect', 'vmj', '--point', p2]);
    expect(marked.exitCode, marked.stderr).toBe(0);
    expect(marked.objects).toEqual([{ type: 'protection', vm: 'vmj', backupId: p2, protected: true, changed: true }]);
    expect(await isProtected(p2)).toBe(true);
    expect((await json(['protect', 'vmj', '--point', p2])).objects).toEqual([
      { type: 'protection', vm: 'vmj', backupId: p2, protected: true, changed: false },
    ]);

    // Refused: one object per point that cannot go, and nothing changed.
    const refused = await json(['forget', 'vmj', '--point', p2]);
    expect(refused.exitCode).toBe(2);
    expect(refused.objects).toEqual([
      { type: 'refused', vm: 'vmj', message: `${p2}: protected; sendense-run unprotect vmj --point ${p2} first` },
    ]);
    expect(await expectPointsExact(chain)).toEqual(chain.ids);

    const freed = await json(['unprotect', 'vmj', '--point', p2]);
    expect(freed.exitCode, freed.stderr).toBe(0);
    expect(freed.objects).toEqual([{ type: 'protection', vm: 'vmj', backupId: p2, protected: false, changed: true }]);
    expect(await isProtected(p2)).toBe(false);

    const dry = await json(['forget', 'vmj', '--point', p1, '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.objects).toEqual([
      {
        type: 'point',
        id: p1,
        backupType: 'incremental',
        status: 'complete',
        takenAt: expect.any(String),
        action: 'merge',
        into: p2,
        becomesFull: false,
        done: false,
      },
      { type: 'summary', vm: 'vmj', dryRun: true, merged: [p1], removed: [] },
    ]);
    expect(await expectPointsExact(chain)).toEqual(chain.ids);

    const merged = await json(['forget', 'vmj', '--point', p1]);
    expect(merged.exitCode, merged.stderr).toBe(0);
    expect(merged.objects).toEqual([
      {
        type: 'point',
        id: p1,
        backupType: 'incremental',
        status: 'complete',
        takenAt: expect.any(String),
        action: 'merge',
        into: p2,
        becomesFull: false,
        done: true,
      },
      { type: 'summary', vm: 'vmj', dryRun: false, merged: [p1], removed: [] },
    ]);
    expect(await expectPointsExact(chain)).toEqual([p0, p2, p3]);
    await expectVerifyPasses(chain);

    // The whole chain, newest first; the bitmaps given back on the source are info objects.
    const files = (await backupsOf(chain)).flatMap((backup) => backup.disks.map((disk) => disk.file));
    const whole = await json(['forget', 'vmj', '--chain', p0]);
    expect(whole.exitCode, whole.stderr).toBe(0);
    expect(
      whole.objects
        .filter((object) => object.type === 'point')
        .map((object) => [object.id, object.action, object.done]),
    ).toEqual([
      [p3, 'delete', true],
      [p2, 'delete', true],
      [p0, 'delete', true],
    ]);
    expect(
      whole.objects
        .filter((object) => object.type === 'info')
        .every((object) => object.step === 'forget' && typeof object.message === 'string'),
    ).toBe(true);
    expect(whole.objects.at(-1)).toEqual({
      type: 'summary',
      vm: 'vmj',
      dryRun: false,
      merged: [],
      removed: [p3, p2, p0],
    });
    expect(await backupsOf(chain)).toEqual([]);
    for (const file of files) expect(existsSync(file), file).toBe(false);
    expect(chain.disks.flatMap((disk) => bitmapNames(disk.path))).toEqual([]);

    // Nothing to forget: still one object that says so.
    const none = await json(['forget', 'vmj', '--damaged']);
    expect(none.exitCode, none.stderr).toBe(0);
    expect(none.objects).toEqual([{ type: 'summary', vm: 'vmj', dryRun: false, merged: [], removed: [] }]);
  });
});
