// Opening a state database skips the migrator when the database holds exactly the migrations in
// names.ts. A migration added to index.ts but not to names.ts would then never be applied to an
// existing database: the two lists must be the same, in the same order.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrationProvider } from '../../src/store/migrations/index.js';
import { MIGRATION_NAMES } from '../../src/store/migrations/names.js';
import { openStore } from '../../src/store/index.js';
import { SqliteDatabase } from '../../src/store/sqlite-driver.js';

describe('migration names', () => {
  it('names.ts lists every migration of index.ts, in order', async () => {
    expect(MIGRATION_NAMES).toEqual(Object.keys(await migrationProvider.getMigrations()));
    expect([...MIGRATION_NAMES].sort()).toEqual(MIGRATION_NAMES);
  });

  it('a new database gets every migration; opening it again changes nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sendense-migrations-'));
    try {
      const file = join(dir, 'state.db');
      await (await openStore(file)).close();
      const applied = () => {
        const raw = new SqliteDatabase(file, { readonly: true });
        try {
          return raw.prepare('SELECT name, timestamp FROM kysely_migration ORDER BY name').all();
        } finally {
          raw.close();
        }
      };
      const first = applied();
      expect(first.map((row) => (row as { name: string }).name)).toEqual(MIGRATION_NAMES);
      await (await openStore(file)).close();
      expect(applied()).toEqual(first);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
