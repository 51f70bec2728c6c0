// verify finds one flipped bit in any file of a chain (a data cluster, an L2 entry, the header),
// names the backup and disk, marks it and every backup built on it damaged, and leaves the
// points before it restorable.

import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { writeRestorePlan, restoredDifference } from '../restore/restore-plan.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, type BackupRow } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { backUpThreePoints, flipBit, ownLayer, type Chain, type Rot } from './chain-fixture.js';

const MiB = 1024 * 1024;

const ports = portRangeForTestFile();
const ws = useRunWorkspace('verify-damage-', { per: 'file' });
const rots: Rot[] = ['data cluster', 'L2 entry', 'header'];
let chain: Chain;
let backups: BackupRow[];
let pristine: string;

describe('verify', () => {
  beforeAll(async () => {
    chain = await backUpThreePoints(ws.dir, ws.repository, ws.db, ports);
    backups = await listBackups(ws.db, 'vmv');
    pristine = path.join(ws.dir, 'state.db.pristine');
    copyFileSync(ws.db, pristine);
  }, 240_000);

  it('each file of a 3-point 2-disk chain has a private manifest, and a clean chain verifies', async () => {
    for (const backup of backups) {
      for (const disk of backup.disks) {
        const manifest = disk.file.replace(/\.qcow2$/, '.json');
        expect(existsSync(manifest), manifest).toBe(true);
        expect(statSync(manifest).mode & 0o777).toBe(0o600);
      }
    }
    const result = await sendenseRun(['verify', '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/verified 3 backup\(s\), no damage found/);
    const after = await listBackups(ws.db, 'vmv');
    expect(after.every((backup) => (backup as unknown as { verifiedAt: string | null }).verifiedAt !== null)).toBe(
      true,
    );
    const shown = await sendenseRun(['backups', '--db', ws.db]);
    expect(shown.stdout).toMatch(/RESTORABLE +VERIFIED/);
  });

  const cases = [0, 1, 2].flatMap((point) => rots.map((rot, index) => ({ point, rot, index })));
  it.each(cases)(
    'a flipped bit in the $rot of backup $point is found, named, and marks it and its descendants damaged',
    async ({ point, rot, index }) => {
      const backup = backups[point]!;
      const disk = backup.disks[(point + index) % 2]!;
      copyFileSync(pristine, ws.db);
      flipBit(disk.file, rot);
      try {
        const result = await sendenseRun(['verify', '--db', ws.db]);
        const what = `${rot} of backup ${point} disk ${disk.diskKey}\n${result.stdout}\n${result.stderr}`;
        expect(result.exitCode, what).toBe(1);
        expect(result.stdout, what).toMatch(new RegExp(`DAMAGED backup ${backup.id} of vmv: disk ${disk.diskKey}: `));
        if (rot === 'data cluster') expect(result.stdout, what).toMatch(/data differs at guest offset \d+/);
        const statuses = (await listBackups(ws.db, 'vmv')).map((b) => b.status);
        expect(statuses, what).toEqual(backups.map((_, i) => (i < point ? 'complete' : 'damaged')));
        // The point before it still restores exactly.
        if (point > 0) {
          const restored = path.join(ws.dir, `restored-${point}-${index}-{key}.qcow2`);
          const plan = writeRestorePlan(ws.dir, {
            name: `restore-${point}-${index}`,
            vm: 'vmv',
            repository: ws.repository,
            ports,
            point: backups[point - 1]!.id,
            target: { type: 'file', path: restored, format: 'qcow2' },
          });
          const restore = await sendenseRun([plan, '--db', ws.db]);
          expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
          for (const key of [2000, 2001]) {
            expect(
              restoredDifference(chain.copies[point - 1]![key]!, restored.replace('{key}', String(key)), 'qcow2'),
            ).toBe('');
            rmSync(restored.replace('{key}', String(key)), { force: true });
          }
        }
        const shown = await sendenseRun(['backups', '--db', ws.db]);
        expect(shown.stdout).toMatch(new RegExp(`${backup.id} .*damaged.*no: damaged`));
        // What verify found is under the table, and no line is wider than 120 columns.
        expect(shown.stdout).toMatch(new RegExp(`\\n    ${backup.id} damaged: `));
        for (const line of shown.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(120);
      } finally {
        flipBit(disk.file, rot);
      }
    },
  );

  it('data that appeared where the backup wrote nothing (a 4 KiB cluster in a hole of its own file) is found and named', async () => {
    copyFileSync(pristine, ws.db);
    const disk = backups[1]!.disks.find((candidate) => candidate.diskKey === 2000)!;
    const kept = `${disk.file}.kept`;
    copyFileSync(disk.file, kept);
    try {
      // Point 1 of disk 2000 wrote at 1M-2M and 20M-21M: 30 MiB is a hole in its own file.
      execFileSync('qemu-io', ['-c', `write -P 0x66 ${30 * MiB} 4096`, ownLayer(disk.file)], { stdio: 'ignore' });
      const result = await sendenseRun(['verify', '--db', ws.db]);
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(1);
      expect(result.stdout).toContain(
        `DAMAGED backup ${backups[1]!.id} of vmv: disk 2000: data at guest offset ${30 * MiB} where the backup wrote none or zeroes`,
      );
    } finally {
      renameSync(kept, disk.file);
    }
  });

  it('a restore with verify: true fails on rot the chain comparison alone cannot see, naming backup and offset', async () => {
    copyFileSync(pristine, ws.db);
    const disk = backups[1]!.disks[0]!;
    flipBit(disk.file, 'data cluster');
    try {
      const restored = path.join(ws.dir, 'rotten-{key}.qcow2');
      const plan = writeRestorePlan(ws.dir, {
        name: 'restore-rotten',
        vm: 'vmv',
        repository: ws.repository,
        ports,
        point: 'latest',
        target: { type: 'file', path: restored, format: 'qcow2' },
      });
      const restore = await sendenseRun([plan, '--db', ws.db]);
      expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(1);
      expect(restore.stderr).toMatch(
        new RegExp(
          `step verify, disk ${disk.diskKey}: backup ${backups[1]!.id} differs from what was read from the source: data differs at guest offset \\d+`,
        ),
      );
      expect(existsSync(restored.replace('{key}', String(disk.diskKey)))).toBe(false);
      expect((await listBackups(ws.db, 'vmv')).map((b) => b.status)).toEqual(['complete', 'damaged', 'damaged']);
    } finally {
      flipBit(disk.file, 'data cluster');
    }
  });

  it('a kind: verify plan checks only backups not verified within outdatedAfter, and fails on damage', async () => {
    copyFileSync(pristine, ws.db);
    const plan = path.join(ws.dir, 'verify-plan.yaml');
    writeFileSync(
      plan,
      stringify({
        version: 1,
        kind: 'verify',
        name: 'vmv-verify',
        schedule: '0 3 * * 0',
        repository: { path: ws.repository },
        verify: { vm: 'vmv', outdatedAfter: '30d' },
      }),
    );
    const disk = backups[2]!.disks[1]!;
    flipBit(disk.file, 'data cluster');
    try {
      const damaged = await sendenseRun([plan, '--db', ws.db]);
      expect(damaged.exitCode, `${damaged.stdout}\n${damaged.stderr}`).toBe(1);
      expect(`${damaged.stdout}${damaged.stderr}`).toContain(
        `DAMAGED backup ${backups[2]!.id} of vmv: disk ${disk.diskKey}: data differs at guest offset`,
      );
      expect((await listBackups(ws.db, 'vmv')).map((b) => b.status)).toEqual(['complete', 'complete', 'damaged']);
    } finally {
      flipBit(disk.file, 'data cluster');
    }
    // Every backup was just verified: within 30 days there is nothing to check again.
    const again = await sendenseRun([plan, '--db', ws.db]);
    expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.stdout).toContain('verified 0 backup(s), no damage found');
  });

  it('a backup file without a manifest (taken before manifests existed) is said to be unverified, never marked damaged', async () => {
    copyFileSync(pristine, ws.db);
    // As a backup recorded before the database knew which files were written with a manifest.
    const db = new Database(ws.db);
    db.prepare('update backup_disks set manifest = 0 where backup_id = ?').run(backups[0]!.id);
    db.close();
    const manifest = backups[0]!.disks[0]!.file.replace(/\.qcow2$/, '.json');
    renameSync(manifest, `${manifest}.aside`);
    try {
      const result = await sendenseRun(['verify', '--db', ws.db]);
      expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
      expect(result.stdout).toContain(`backup ${backups[0]!.id} disk 2000: not verified: no manifest beside`);
      expect(result.stdout).toContain('verified 2 backup(s), no damage found; 1 without manifests not verified');
      expect((await listBackups(ws.db, 'vmv')).map((b) => b.status)).toEqual(['complete', 'complete', 'complete']);
    } finally {
      renameSync(`${manifest}.aside`, manifest);
    }
  });

  it('a qemu-img check killed by a signal (the OOM killer) marks nothing damaged: those backups are not verified this time', async () => {
    copyFileSync(pristine, ws.db);
    // qemu-img first on the PATH: its `check` dies of SIGKILL, as under the OOM killer; the rest is the real one.
    const bin = path.join(ws.dir, 'killed-check-bin');
    mkdirSync(bin, { recursive: true });
    const real = execFileSync('sh', ['-c', 'command -v qemu-img'], { encoding: 'utf8' }).trim();
    writeFileSync(path.join(bin, 'qemu-img'), `#!/bin/sh\n[ "$1" = check ] && kill -9 $$\nexec ${real} "$@"\n`, {
      mode: 0o755,
    });
    const result = await sendenseRun(['verify', '--db', ws.db], { PATH: `${bin}:${process.env.PATH}` });
    expect(`${result.stdout}${result.stderr}`).toMatch(/qemu-img check of \S+ was stopped by a signal \(exit 137\)/);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/damaged/);
    expect((await listBackups(ws.db, 'vmv')).map((b) => b.status)).toEqual(['complete', 'complete', 'complete']);
    // Checked again with the real one: sound.
    const again = await sendenseRun(['verify', '--db', ws.db]);
    expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.stdout).toMatch(/verified 3 backup\(s\), no damage found/);
  });

  // Last: it adds a backup to the chain the tests above share.
  it('the next incremental after damage starts a new chain with a warning, never building on a damaged backup', async () => {
    copyFileSync(pristine, ws.db);
    const disk = backups[2]!.disks[0]!;
    flipBit(disk.file, 'data cluster');
    try {
      expect((await sendenseRun(['verify', '--db', ws.db])).exitCode).toBe(1);
    } finally {
      flipBit(disk.file, 'data cluster');
    }
    const next = await sendenseRun([chain.plan, '--db', ws.db]);
    expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
    expect(`${next.stdout}${next.stderr}`).toContain(`backup ${backups[2]!.id} is damaged`);
    const all = await listBackups(ws.db, 'vmv');
    expect([all[3]!.type, all[3]!.parentId, all[3]!.status]).toEqual(['full', null, 'complete']);
    expect(all[3]!.chainId).not.toBe(backups[0]!.chainId);
  });
});
