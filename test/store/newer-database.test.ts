// A state database that a newer sendense-run has upgraded (an operator went back one version, or
// two versions share a hub): one clear error naming the database and the migration this version
// does not know, and the database left as it was.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { SqliteDatabase } from '../../src/store/sqlite-driver.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'sendense-newer-'))));
afterEach(async () => rm(dir, { recursive: true, force: true }));

describe('a database from a newer version', () => {
  it('is refused with the migration it has, not called corrupted, and is not changed', async () => {
    const file = join(dir, 'state.db');
    const store = await openStore(file);
    const run = await store.createRun({ plan: 'nightly', kind: 'backup', trigger: 'manual' });
    await store.close();
    const raw = new SqliteDatabase(file);
    raw
      .prepare(
        "INSERT INTO kysely_migration (name, timestamp) VALUES ('999-from-the-future', '2030-01-01T00:00:00.000Z')",
      )
      .run();
    raw.close();

    await expect(openStore(file)).rejects.toThrow(
      `state database ${file} was upgraded by a newer sendense-run (it has migration 999-from-the-future, which this version does not know)`,
    );
    const check = new SqliteDatabase(file);
    expect(check.prepare('SELECT id FROM runs').all()).toEqual([{ id: run.id }]);
    expect(
      check.prepare("SELECT count(*) AS n FROM kysely_migration WHERE name = '999-from-the-future'").get(),
    ).toEqual({ n: 1 });
    check.close();
  });
});
