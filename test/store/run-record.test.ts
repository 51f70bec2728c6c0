// A run's record (the kind it took, its bytes, its backup) is written once as it ends and no merge
// rewrites it; what became of its point is recorded apart (docs/commands.md#history). A database
// from before the record existed gets it from its backups on upgrade. On SQLite and PostgreSQL.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, Migrator } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { ImmediateSqliteDialect } from '../../src/store/immediate-sqlite-dialect.js';
import { openStore, type Store } from '../../src/store/index.js';
import { migrationProvider } from '../../src/store/migrations/index.js';
import { openPostgres, postgresConfig } from '../../src/store/open-postgres.js';
import type { StoreDatabase } from '../../src/store/schema.js';
import { SqliteDatabase } from '../../src/store/sqlite-driver.js';
import { DIALECTS, useStoreTarget, type Dialect } from '../support/store-dialects.js';

// The schema as the release before the run record left it, to write rows in.
async function databaseAt(dialect: Dialect, db: string, migration: string): Promise<Kysely<StoreDatabase>> {
  if (dialect === 'sqlite') mkdirSync(path.dirname(db), { recursive: true });
  const kysely =
    dialect === 'sqlite'
      ? new Kysely<StoreDatabase>({ dialect: new ImmediateSqliteDialect({ database: new SqliteDatabase(db) }) })
      : openPostgres(postgresConfig(db).config);
  const { error } = await new Migrator({ db: kysely, provider: migrationProvider }).migrateTo(migration);
  if (error) throw error;
  return kysely;
}

describe.each(DIALECTS)('run records on %s', (dialect) => {
  const target = useStoreTarget(dialect);
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  async function backupRun(s: Store, type: 'full' | 'incremental', parentId?: string) {
    const run = await s.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' });
    const backup = await s.createBackup({
      vm: 'vm1',
      plan: 'nightly',
      type,
      parentId,
      repository: '/repo',
      runId: run.id,
    });
    await s.addBackupDisk(backup.id, {
      diskKey: 2000,
      file: `/repo/vm1/disk-2000/${backup.id}.qcow2`,
      virtualSize: 1 << 30,
      source: '/vm1.qcow2',
      sourceNode: 'local',
    });
    await s.completeBackupDisk(backup.id, 2000, { changeId: `c-${backup.id}`, bytes: type === 'full' ? 5000 : 300 });
    await s.completeBackup(backup.id);
    return {
      run: await s.finishRun(run.id, 'succeeded', undefined, {
        backupId: backup.id,
        taken: type,
        bytes: type === 'full' ? 5000 : 300,
      }),
      backupId: backup.id,
    };
  }

  it('a merge leaves the runs of both points as they ended and records the merged point apart', async () => {
    store = await openStore(target.db);
    const full = await backupRun(store, 'full');
    const first = await backupRun(store, 'incremental', full.backupId);
    const second = await backupRun(store, 'incremental', first.backupId);
    expect(full.run).toMatchObject({ taken: 'full', bytes: 5000, backupId: full.backupId });
    expect(first.run).toMatchObject({ taken: 'incremental', bytes: 300, backupId: first.backupId });

    await store.recordVerification(second.backupId, '2026-11-20T10:00:00.000Z');
    await store.dropPoint(full.backupId, first.backupId);
    await store.dropPoint(first.backupId, second.backupId);
    // Its file is another one now: the verify before the merge no longer speaks for it.
    expect(await store.getBackup(second.backupId)).toMatchObject({ type: 'full', bytes: 5600, verifiedAt: null });
    for (const { run } of [full, first, second]) expect(await store.getRun(run.id)).toEqual(run);
    const dropped = await store.droppedPoints([full.backupId, first.backupId, second.backupId]);
    expect(new Map(dropped.map((point) => [point.backupId, point.mergedInto]))).toEqual(
      new Map([
        [full.backupId, first.backupId],
        [first.backupId, second.backupId],
      ]),
    );
    await store.dropPoint(second.backupId, null);
    expect((await store.droppedPoints([second.backupId]))[0]).toMatchObject({ mergedInto: null });
  });

  it('a run ended without a record (found dead) keeps its backup’s type and bytes as they stood', async () => {
    store = await openStore(target.db);
    const run = await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' });
    const backup = await store.createBackup({
      vm: 'vm1',
      plan: 'nightly',
      type: 'full',
      repository: '/repo',
      runId: run.id,
    });
    await store.addBackupDisk(backup.id, {
      diskKey: 2000,
      file: '/repo/x.qcow2',
      virtualSize: 1 << 30,
      source: '/vm1.qcow2',
      sourceNode: 'local',
    });
    await store.completeBackupDisk(backup.id, 2000, { changeId: 'c', bytes: 700 });
    expect(await store.finishRun(run.id, 'failed', 'gone')).toMatchObject({
      taken: 'full',
      bytes: 700,
      backupId: backup.id,
    });
  });

  it('a run a command records (verify, prune) gets an id like the engine’s runs', async () => {
    store = await openStore(target.db);
    const verify = await store.createRun({ plan: 'verify', kind: 'verify', trigger: 'manual' });
    const skipped = await store.recordSkippedRun({
      plan: 'nightly',
      kind: 'backup',
      trigger: 'schedule',
      reason: 'busy',
    });
    for (const run of [verify, skipped]) expect(run.id).toMatch(/^run-\d{8}-\d{6}-[0-9a-f]{8}$/);
  });

  it('upgrading fills the record of runs that ended before it from their backups', async () => {
    const old = await databaseAt(dialect, target.db, '013-run-bytes');
    const run = (id: string, status: string, kind = 'backup') => ({
      id,
      plan: 'nightly',
      kind,
      trigger: 'manual',
      status,
      started_at: '2026-01-01T00:00:00Z',
    });
    await old
      .insertInto('runs')
      .values([run('r1', 'succeeded'), run('r2', 'running'), { ...run('r3', 'succeeded', 'copy'), bytes: 42 }])
      .execute();
    const backup = (id: string, runId: string, type: string) => ({
      id,
      vm: 'vm1',
      plan: 'nightly',
      type,
      chain_id: 'c',
      status: 'complete',
      repository: '/repo',
      started_at: '2026-01-01T00:00:00Z',
      run_id: runId,
      bytes: 900,
    });
    await old
      .insertInto('backups')
      .values([backup('b1', 'r1', 'full'), backup('b2', 'r2', 'incremental')])
      .execute();
    await old.updateTable('runs').set({ backup_id: 'b1' }).where('id', '=', 'r1').execute();
    await old.updateTable('runs').set({ backup_id: 'b2' }).where('id', '=', 'r2').execute();
    await old.destroy();

    store = await openStore(target.db);
    expect(await store.getRun('r1')).toMatchObject({ taken: 'full', bytes: 900, backupId: 'b1' });
    expect(await store.getRun('r2')).toMatchObject({ taken: null, bytes: null }); // still running: it records its own end
    expect(await store.getRun('r3')).toMatchObject({ taken: null, bytes: 42 });
  });
});
