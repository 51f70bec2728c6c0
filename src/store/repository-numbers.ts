// Each repository's number (021-repository-numbers; docs/api.md#old-system-routes): 1 for the first
// repository the hub saw, then in the order they came, never reused or renumbered.

import type { Kysely } from 'kysely';
import { nowIso } from './new-id.js';
import type { StoreDatabase } from './schema.js';

export interface NumberedRepository {
  readonly number: number;
  readonly path: string;
  readonly firstSeenAt: string;
}

export interface RepositoryNumbers {
  /** Numbers the paths not numbered yet, in the order given. */
  note(paths: readonly string[]): Promise<void>;
  /** Every numbered repository, by number. */
  list(): Promise<readonly NumberedRepository[]>;
}

export function repositoryNumbers(db: Kysely<StoreDatabase>): RepositoryNumbers {
  return {
    async note(paths) {
      for (const path of paths) await noteOne(db, path);
    },
    async list() {
      const rows = await db.selectFrom('repository_numbers').selectAll().orderBy('number').execute();
      return rows.map((row) => ({ number: Number(row.number), path: row.path, firstSeenAt: row.first_seen_at }));
    },
  };
}

// The next number, taken in one statement; two hubs numbering at once collide on the key and the
// loser takes the number after.
async function noteOne(db: Kysely<StoreDatabase>, path: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const known = await db
      .selectFrom('repository_numbers')
      .select('number')
      .where('path', '=', path)
      .executeTakeFirst();
    if (known !== undefined) return;
    const last = await db
      .selectFrom('repository_numbers')
      .select((eb) => eb.fn.max('number').as('last'))
      .executeTakeFirst();
    try {
      await db
        .insertInto('repository_numbers')
        .values({ number: Number(last?.last ?? 0) + 1, path, first_seen_at: nowIso() })
        .execute();
      return;
    } catch (error) {
      if (attempt === 4) throw error;
    }
  }
}
