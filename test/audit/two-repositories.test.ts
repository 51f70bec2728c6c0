// Two plans back up the same disks into two repositories, alternately (A, B, A, B, …): each
// chain keeps its own bitmaps, every incremental is exact, and neither disturbs the other.

import path from 'node:path';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { bitmapNames, createDisk, differenceBetween, keepCopy, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ws = useRunWorkspace('audit-two-repos-');

describe('one VM, two repositories', () => {
  it('A, B, A, B, A, B: each incremental exact, each chain keeps exactly its latest bitmap', async () => {
    const disks = [
      { key: 2000, path: createDisk(path.join(ws.dir, 'disk0.qcow2'), 64 * MiB) },
      { key: 2001, path: createDisk(path.join(ws.dir, 'disk1.qcow2'), 16 * MiB) },
    ];
    writeDisk(disks[0].path, ['write -P 0x11 0 8M']);
    writeDisk(disks[1].path, ['write -P 0x21 1M 2M']);
    const plans = {
      a: writePlan(ws.dir, {
        name: 'plan-a',
        vm: 'vm1',
        disks,
        repository: path.join(ws.dir, 'repo-a'),
        ports: [45940, 45949],
      }),
      b: writePlan(ws.dir, {
        name: 'plan-b',
        vm: 'vm1',
        disks,
        repository: path.join(ws.dir, 'repo-b'),
        ports: [45950, 45959],
      }),
    };
    const order = ['a', 'b', 'a', 'b', 'a', 'b'] as const;
    for (const [round, which] of order.entries()) {
      const result = await sendenseRun([plans[which], '--db', ws.db]);
      expect(result.exitCode, `${which} round ${round}\n${result.stdout}\n${result.stderr}`).toBe(0);
      if (round >= 2) expect(result.stdout).not.toMatch(/warning|taking a full/i);
      const copies = disks.map((disk) => keepCopy(disk.path, path.join(ws.dir, `r${round}-${disk.key}.qcow2`)));

      const all = await listBackups(ws.db, 'vm1');
      const mine = all.filter((backup) => backup.plan === `plan-${which}` && backup.status === 'complete');
      const latest = mine.at(-1)!;
      expect(latest.type).toBe(round < 2 ? 'full' : 'incremental');
      expect(new Set(mine.map((backup) => backup.chainId)).size).toBe(1);
      disks.forEach((disk, i) => {
        const backupDisk = latest.disks.find((d) => d.diskKey === disk.key)!;
        expect(differenceBetween(backupDisk.file, copies[i]), `${which} round ${round} disk ${disk.key}`).toBe('');
      });
      // On each source disk: the latest bitmap of each repository's chain, nothing else.
      const latestOf = (plan: string) =>
        all.filter((backup) => backup.plan === plan && backup.status === 'complete').at(-1);
      for (const disk of disks) {
        const expected = ['plan-a', 'plan-b']
          .map((plan) => latestOf(plan)?.disks.find((d) => d.diskKey === disk.key)?.changeId)
          .filter((name): name is string => typeof name === 'string')
          .sort();
        expect(bitmapNames(disk.path), `round ${round} disk ${disk.key}`).toEqual(expected);
      }
      // Change both disks between runs: data, a range become zero, a discard.
      writeDisk(disks[0].path, [
        `write -P 0x${(0x30 + round).toString(16)} ${(round * 5) % 60}M 1M`,
        `write -z ${1 + round}M 512K`,
      ]);
      writeDisk(disks[1].path, [
        `write -P 0x${(0x40 + round).toString(16)} ${round * 2}M 64K`,
        `discard ${1 + round}M 64K`,
      ]);
    }
  }, 120_000);

  it("a database edited to name the other chain's bitmap: a warned full into a new chain, the other chain's bitmap kept", async () => {
    const disks = [{ key: 2000, path: createDisk(path.join(ws.dir, 'edited.qcow2'), 32 * MiB) }];
    writeDisk(disks[0].path, ['write -P 0x11 0 4M']);
    const planA = writePlan(ws.dir, {
      name: 'edited-a',
      vm: 'vm2',
      disks,
      repository: path.join(ws.dir, 'repo-a'),
      ports: [45940, 45949],
    });
    const planB = writePlan(ws.dir, {
      name: 'edited-b',
      vm: 'vm2',
      disks,
      repository: path.join(ws.dir, 'repo-b'),
      ports: [45950, 45959],
    });
    for (const plan of [planA, planB]) expect((await sendenseRun([plan, '--db', ws.db])).exitCode).toBe(0);
    const [a, b] = await listBackups(ws.db, 'vm2');
    const bitmapOfB = b!.disks[0]!.changeId!;
    // A's latest backup now claims B's bitmap (someone edited the state database).
    const db = new Database(ws.db);
    db.prepare('update backup_disks set change_id = ? where backup_id = ?').run(bitmapOfB, a!.id);
    db.close();
    writeDisk(disks[0].path, ['write -P 0x12 8M 1M']);
    const copy = keepCopy(disks[0].path, path.join(ws.dir, 'edited-now.qcow2'));

    const result = await sendenseRun([planA, '--db', ws.db]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(`${result.stdout}${result.stderr}`).toContain(
      `backup ${a!.id} records bitmap '${bitmapOfB}' for disk 2000, not the one its chain added`,
    );
    const latest = (await listBackups(ws.db, 'vm2')).at(-1)!;
    expect(latest.type).toBe('full');
    expect(latest.chainId).not.toBe(a!.chainId);
    expect(differenceBetween(latest.disks[0]!.file, copy)).toBe('');
    expect(bitmapNames(disks[0].path)).toContain(bitmapOfB);
  }, 60_000);
});
