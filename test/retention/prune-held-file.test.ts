// A reader holding an unkept point's file (here a plain `qemu-nbd -r`, as a verify, a restore or
// `files` would) is a passing conflict, not a crash: `sendense-run prune` takes qemu's write lock
// on the file it merges into before the merge touches anything, and when another process holds the
// file it says so in one line, records no merge and leaves no merged manifest, so a backup and a
// restore of the VM go on at once without doctor; every point stays exact, and once the reader is
// gone the same prune goes through.

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoredDifference, writeRestorePlan } from '../restore/restore-plan.js';
import { tableRows } from '../support/process-tree.js';
import { startQemuNbd, useNbdServers } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { runStatuses, sendenseRun } from '../support/sendense-cli.js';
import { keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { backUpPoints, backupsOf, expectPointsExact, setTakenAt, writeRetentionPlan } from './point-chain.js';

const ws = useRunWorkspace('prune-held-');
const ports = portRangeForTestFile();
const servers = useNbdServers();

const day = (n: number) => new Date(Date.UTC(2026, 0, 1 + n, 2)).toISOString();

function pendingManifests(repository: string): string[] {
  return (readdirSync(repository, { recursive: true }) as string[]).filter((name) => name.endsWith('.merge'));
}

describe('prune while another process holds an unkept point', () => {
  it(
    'fails in one line with nothing recorded; backup and restore go on without doctor; every point exact',
    { timeout: 600_000 },
    async () => {
      const chain = await backUpPoints(ws.dir, ws.db, ws.repository, ports, 4, 'vmh');
      setTakenAt(chain, Object.fromEntries(chain.ids.map((id, i) => [id, day(i)])));
      // keepLast 3: the full (point 0) is folded into point 1; a reader holds the full's second disk.
      const full = (await backupsOf(chain))[0]!;
      const held = full.disks.find((disk) => disk.diskKey === 2001)!.file;
      const reader = await startQemuNbd({
        file: held,
        readOnly: true,
        shared: 1,
        socket: path.join(ws.dir, 'reader.sock'),
      });
      servers.push(reader);

      const prune = writeRetentionPlan(chain, { keepLast: 3 });
      const refused = await sendenseRun(['prune', prune, '--db', ws.db]);
      expect(refused.exitCode, `${refused.stdout}\n${refused.stderr}`).toBe(1);
      const lines = refused.stderr.trim().split('\n');
      expect(lines, refused.stderr).toHaveLength(1);
      expect(lines[0]).toContain(held);
      expect(lines[0]).toContain('another process');
      expect(lines[0]).toContain('try again when it is closed');
      expect(refused.stderr).not.toContain('internal error');
      // Nothing recorded, nothing left beside the files, the prune run ended (not left running).
      expect(tableRows(ws.db, 'merges')).toEqual([]);
      expect(pendingManifests(ws.repository)).toEqual([]);
      expect(await runStatuses(ws.db)).not.toContain('running');
      expect(await expectPointsExact(chain)).toEqual(chain.ids);

      // At once, the reader still there, no doctor: the next backup of the VM and a restore of it.
      writeDisk(chain.disks[0]!.path, ['write -P 0x66 2M 512k']);
      const backup = await sendenseRun([writeRetentionPlan(chain, undefined, 'build'), '--db', ws.db]);
      expect(backup.exitCode, `${backup.stdout}\n${backup.stderr}`).toBe(0);
      const latest = (await backupsOf(chain)).at(-1)!.id;
      chain.ids.push(latest);
      chain.copies[latest] = Object.fromEntries(
        chain.disks.map((disk) => [disk.key, keepCopy(disk.path, path.join(ws.dir, `latest-${disk.key}.qcow2`))]),
      );
      const restorePlan = writeRestorePlan(ws.dir, {
        name: 'vmh-restore',
        vm: chain.vm,
        repository: ws.repository,
        ports,
        point: 'latest',
        target: { type: 'file', path: path.join(ws.dir, 'restored-{key}.qcow2'), format: 'qcow2' },
      });
      const restore = await sendenseRun([restorePlan, '--db', ws.db]);
      expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
      for (const disk of chain.disks)
        expect(
          restoredDifference(
            chain.copies[latest]![disk.key]!,
            path.join(ws.dir, `restored-${disk.key}.qcow2`),
            'qcow2',
          ),
        ).toBe('');
      expect(await expectPointsExact(chain)).toEqual(chain.ids);

      // The reader gone, the same prune merges the full away.
      await reader.stop();
      const again = await sendenseRun(['prune', writeRetentionPlan(chain, { keepLast: 4 }), '--db', ws.db]);
      expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
      expect(await expectPointsExact(chain)).toEqual(chain.ids.slice(1));
    },
  );
});
