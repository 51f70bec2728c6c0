// A hub's start is bounded and says what it waits for (docs/operations.md#many-hubs): a hub whose
// state database is held by another session (here: the migration lock, as a hub stuck mid-upgrade
// would hold it) says "still starting: waiting for the state database" and, past
// $SENDENSE_START_TIMEOUT_SECONDS, exits 1 naming it, rather than printing its schedule and then
// nothing. Once the lock is gone, the same hub starts and runs its fires.

import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { usePostgresServer } from '../support/store-dialects.js';
import { killScheduler, startScheduler, type SchedulerProcess } from '../schedule/scheduler-process.js';
import { makeSandbox, writePlanFile, type Sandbox } from '../schedule/test-plans.js';

// kysely's migration lock on PostgreSQL (its PostgresAdapter's advisory lock id).
const MIGRATION_LOCK = '3853314791062309107';

let box: Sandbox | undefined;
let scheduler: SchedulerProcess | undefined;
let holder: pg.Client | undefined;

afterEach(async () => {
  await killScheduler(scheduler);
  await holder?.end().catch(() => {});
  holder = undefined;
  box?.remove();
});

describe('a hub start on PostgreSQL', () => {
  const postgres = usePostgresServer();

  it('says what it waits for, gives up at its bound with exit 1, and starts once the lock is gone', async () => {
    box = makeSandbox('hub-start');
    const db = await postgres.server.createDatabase('start');
    writePlanFile(path.join(box.dir, 'v.yaml'), {
      version: 1,
      kind: 'verify',
      name: 'v',
      schedule: '* * * * * *',
      repository: { path: box.repository },
      verify: { vm: 'vm-1' },
    });
    holder = new pg.Client({ connectionString: db });
    await holder.connect();
    await holder.query(`select pg_advisory_lock(${MIGRATION_LOCK})`);

    scheduler = startScheduler([box.dir, '--db', db], { SENDENSE_START_TIMEOUT_SECONDS: '6' });
    const code = await scheduler.exited;
    const notes = scheduler.lines.filter((line) => line.type === 'scheduler');
    expect(
      notes.some(
        (line) =>
          line.event === 'starting' &&
          /^still starting: waiting for the state database .*\(\d+ s so far\)$/.test(line.message!),
      ),
    ).toBe(true);
    expect(code, scheduler.stderr()).toBe(1);
    const errors = scheduler.lines.filter((line) => line.type === 'error');
    expect(errors.map((line) => line.message)).toEqual([
      expect.stringMatching(
        /^hub start: the state database postgres:\/\/.* \(its connection and migrations\) did not finish within \d+ s$/,
      ),
    ]);
    expect(scheduler.stderr()).not.toMatch(/\n\s+at /);
    // It never printed a schedule it would not keep.
    expect(notes.filter((line) => line.event === 'scheduled')).toEqual([]);

    await holder.query(`select pg_advisory_unlock(${MIGRATION_LOCK})`);
    scheduler = startScheduler([box.dir, '--db', db], { SENDENSE_START_TIMEOUT_SECONDS: '6' });
    await scheduler.waitFor((line) => line.type === 'run-end' && line.plan === 'v', 60_000);
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);
  });

  it('refuses a bound that is not a positive number of seconds, with exit 2', async () => {
    box = makeSandbox('hub-start');
    writePlanFile(path.join(box.dir, 'v.yaml'), {
      version: 1,
      kind: 'verify',
      name: 'v',
      schedule: '* * * * * *',
      repository: { path: box.repository },
      verify: { vm: 'vm-1' },
    });
    scheduler = startScheduler([box.dir, '--db', box.db], { SENDENSE_START_TIMEOUT_SECONDS: 'soon' });
    expect(await scheduler.exited).toBe(2);
    expect(scheduler.lines.find((line) => line.type === 'error')?.message).toBe(
      'SENDENSE_START_TIMEOUT_SECONDS must be a positive number of seconds, not "soon"',
    );
  });
});
