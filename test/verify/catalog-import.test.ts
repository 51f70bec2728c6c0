// With the state database lost, the repository's manifests bring the chains back: a run refuses to
// start a new chain beside backups it does not know, `catalog import` records them again, every
// point restores exactly, and the next incremental continues the chain (its bitmap still exists).

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { restoredDifference, writeRestorePlan } from '../restore/restore-plan.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { backUpThreePoints } from './chain-fixture.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('catalog-import-');

describe('catalog import', () => {
  it('rebuilds a lost database from the manifests; restores and the next incremental continue exactly', async () => {
    const chain = await backUpThreePoints(ws.dir, ws.repository, ws.db, ports);
    const before = await listBackups(ws.db, 'vmv');
    rmSync(ws.db);

    const refused = await sendenseRun([chain.plan, '--db', ws.db]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(
      `holds 3 backups of vmv this database does not know (${before.map((b) => b.id).join(', ')})`,
    );
    expect(refused.stderr).toContain(`sendense-run catalog import ${ws.repository}`);
    expect(refused.stderr).not.toMatch(/\n\s+at /);

    const imported = await sendenseRun(['catalog', 'import', ws.repository, '--db', ws.db]);
    expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
    expect(imported.stdout).toMatch(/imported 3 backup\(s\)/);
    const after = await listBackups(ws.db, 'vmv');
    expect(after.map((b) => [b.id, b.type, b.parentId, b.chainId, b.status, b.restorable])).toEqual(
      before.map((b) => [b.id, b.type, b.parentId, b.chainId, 'complete', true]),
    );
    expect(after.map((b) => b.disks.map((d) => [d.diskKey, d.file, d.changeId]))).toEqual(
      before.map((b) => b.disks.map((d) => [d.diskKey, d.file, d.changeId])),
    );

    for (const [point, backup] of after.entries()) {
      const restored = path.join(ws.dir, `restored-${point}-{key}.qcow2`);
      const plan = writeRestorePlan(ws.dir, {
        name: `restore-${point}`,
        vm: 'vmv',
        repository: ws.repository,
        ports,
        point: backup.id,
        target: { type: 'file', path: restored, format: 'qcow2' },
      });
      const restore = await sendenseRun([plan, '--db', ws.db]);
      expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
      for (const key of [2000, 2001])
        expect(restoredDifference(chain.copies[point]![key]!, restored.replace('{key}', String(key)), 'qcow2')).toBe(
          '',
        );
    }

    writeDisk(chain.disks[0]!.path, ['write -P 0x55 10M 1M', 'write -z 0 64K']);
    writeDisk(chain.disks[1]!.path, ['write -P 0x66 2M 128K']);
    const next = await sendenseRun([chain.plan, '--db', ws.db]);
    expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
    const all = await listBackups(ws.db, 'vmv');
    expect(all).toHaveLength(4);
    expect([all[3]!.type, all[3]!.parentId, all[3]!.chainId]).toEqual([
      'incremental',
      before[2]!.id,
      before[0]!.chainId,
    ]);
    for (const disk of chain.disks) {
      const copy = keepCopy(disk.path, path.join(ws.dir, `p3-${disk.key}.qcow2`));
      expect(differenceBetween(all[3]!.disks.find((d) => d.diskKey === disk.key)!.file, copy)).toBe('');
    }
  });

  it('a repository moved to another place (another hub) is imported into a new database and restores exactly', async () => {
    const chain = await backUpThreePoints(ws.dir, ws.repository, ws.db, ports);
    const moved = path.join(ws.dir, 'moved', 'repository');
    mkdirSync(path.dirname(moved));
    renameSync(ws.repository, moved);
    const otherDb = path.join(ws.dir, 'other-hub.db');
    const imported = await sendenseRun(['catalog', 'import', moved, '--db', otherDb]);
    expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
    const backups = await listBackups(otherDb, 'vmv');
    expect(backups.map((b) => [b.status, b.restorable, b.repository])).toEqual(
      [0, 1, 2].map(() => ['complete', true, moved]),
    );
    const restored = path.join(ws.dir, 'moved-{key}.qcow2');
    const plan = writeRestorePlan(ws.dir, {
      name: 'restore-moved',
      vm: 'vmv',
      repository: moved,
      ports,
      point: 'latest',
      target: { type: 'file', path: restored, format: 'qcow2' },
    });
    const restore = await sendenseRun([plan, '--db', otherDb]);
    expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
    for (const key of [2000, 2001])
      expect(restoredDifference(chain.copies[2]![key]!, restored.replace('{key}', String(key)), 'qcow2')).toBe('');
    // Importing again records nothing twice.
    const again = await sendenseRun(['catalog', 'import', moved, '--db', otherDb]);
    expect(again.stdout).toContain('imported 0 backup(s)');
    expect(again.stdout).toContain('3 already known');
  });

  it('a repository moved on the same hub: import points the known backups at their files there, and they restore exactly', async () => {
    const chain = await backUpThreePoints(ws.dir, ws.repository, ws.db, ports);
    const ids = (await listBackups(ws.db, 'vmv')).map((b) => b.id);
    const moved = path.join(ws.dir, 'moved-here', 'repository');
    mkdirSync(path.dirname(moved));
    renameSync(ws.repository, moved);
    // The listing shows what is recorded of the files (docs/how-it-works.md#what-a-listing-reads): doctor records them gone.
    expect((await sendenseRun(['doctor', '--db', ws.db])).exitCode).toBe(0);
    expect((await listBackups(ws.db, 'vmv')).map((b) => b.restorable)).toEqual([false, false, false]);

    const imported = await sendenseRun(['catalog', 'import', moved, '--db', ws.db]);
    expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
    expect(imported.stdout).toContain('imported 0 backup(s)');
    expect(imported.stdout).toContain('3 found moved here');
    const backups = await listBackups(ws.db, 'vmv');
    expect(backups.map((b) => [b.id, b.repository, b.restorable])).toEqual(ids.map((id) => [id, moved, true]));
    for (const backup of backups) for (const disk of backup.disks) expect(disk.file.startsWith(`${moved}/`)).toBe(true);
    const restored = path.join(ws.dir, 'moved-here-{key}.qcow2');
    const plan = writeRestorePlan(ws.dir, {
      name: 'restore-moved-here',
      vm: 'vmv',
      repository: moved,
      ports,
      point: 'latest',
      target: { type: 'file', path: restored, format: 'qcow2' },
    });
    const restore = await sendenseRun([plan, '--db', ws.db]);
    expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
    for (const key of [2000, 2001])
      expect(restoredDifference(chain.copies[2]![key]!, restored.replace('{key}', String(key)), 'qcow2')).toBe('');
  });

  it('points taken within one second whose ids sort child first are imported parents first, and latest is the newest', async () => {
    const chain = await backUpThreePoints(ws.dir, ws.repository, ws.db, ports);
    const before = await listBackups(ws.db, 'vmv');
    // Ids sort by the second and a random suffix: give the full one that sorts after its children.
    const fullId = before[0]!.id;
    const lateId = '20991231-235959-ffff';
    for (const key of [2000, 2001])
      renameBackup(path.join(ws.repository, 'vmv', `disk-${key}`), fullId, lateId, before[1]!.id);
    rmSync(ws.db);

    // The refusal lists them oldest first, whatever their ids.
    const refused = await sendenseRun([chain.plan, '--db', ws.db]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(
      `holds 3 backups of vmv this database does not know (${[lateId, before[1]!.id, before[2]!.id].join(', ')})`,
    );

    const imported = await sendenseRun(['catalog', 'import', ws.repository, '--db', ws.db]);
    expect(imported.exitCode, `${imported.stdout}\n${imported.stderr}`).toBe(0);
    expect(imported.stdout).toContain('imported 3 backup(s)');
    const after = await listBackups(ws.db, 'vmv');
    expect(after.map((b) => [b.id, b.parentId, b.restorable])).toEqual([
      [lateId, null, true],
      [before[1]!.id, lateId, true],
      [before[2]!.id, before[1]!.id, true],
    ]);
    const restored = path.join(ws.dir, 'latest-{key}.qcow2');
    const plan = writeRestorePlan(ws.dir, {
      name: 'restore-latest',
      vm: 'vmv',
      repository: ws.repository,
      ports,
      point: 'latest',
      target: { type: 'file', path: restored, format: 'qcow2' },
    });
    const restore = await sendenseRun([plan, '--db', ws.db]);
    expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
    for (const key of [2000, 2001])
      expect(restoredDifference(chain.copies[2]![key]!, restored.replace('{key}', String(key)), 'qcow2')).toBe('');
  });

  it('says plainly when the repository is not a directory or the action is unknown', async () => {
    const missing = await sendenseRun(['catalog', 'import', path.join(ws.dir, 'nowhere'), '--db', ws.db]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr.trim()).toBe(`sendense-run: repository ${path.join(ws.dir, 'nowhere')} is not a directory`);
    const unknown = await sendenseRun(['catalog', 'export', ws.dir, '--db', ws.db]);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain("unknown catalog action 'export'");
  });
});

// Renames backup `from` to `to` in one disk folder: its file and manifest, and the child's manifest
// and backing file name (rebase -u changes only the name).
function renameBackup(dir: string, from: string, to: string, childId: string): void {
  const manifest = JSON.parse(readFileSync(path.join(dir, `${from}.json`), 'utf8')) as Record<string, unknown>;
  renameSync(path.join(dir, `${from}.qcow2`), path.join(dir, `${to}.qcow2`));
  rmSync(path.join(dir, `${from}.json`));
  writeFileSync(path.join(dir, `${to}.json`), JSON.stringify({ ...manifest, backupId: to, file: `${to}.qcow2` }));
  const child = JSON.parse(readFileSync(path.join(dir, `${childId}.json`), 'utf8')) as Record<string, unknown>;
  writeFileSync(
    path.join(dir, `${childId}.json`),
    JSON.stringify({ ...child, parentId: to, parentFile: `${to}.qcow2` }),
  );
  execFileSync('qemu-img', [
    'rebase',
    '-u',
    '-f',
    'qcow2',
    '-b',
    `${to}.qcow2`,
    '-F',
    'qcow2',
    path.join(dir, `${childId}.qcow2`),
  ]);
}
