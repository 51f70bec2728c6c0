// Every kind of thing a run records in the state database has a doctor sweeper that gives it back
// when the run dies (or is named in UNSWEPT_TABLES with the reason it needs none): a new table, a
// libvirt backup job say, fails here until its sweeper is in src/doctor/index.ts.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDoctor, SWEEPERS, UNSWEPT_TABLES, type Sweeper } from '../../src/doctor/index.js';
import { openStore } from '../../src/store/index.js';
import { SqliteDatabase } from '../../src/store/sqlite-driver.js';

async function withNewDatabase<T>(use: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'sendense-sweepers-'));
  try {
    return await use(join(dir, 'state.db'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function tablesOf(file: string): string[] {
  const raw = new SqliteDatabase(file, { readonly: true });
  try {
    const rows = raw
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'kysely_%' AND name NOT LIKE 'sqlite_%'",
      )
      .all() as { name: string }[];
    return rows.map((row) => row.name).sort();
  } finally {
    raw.close();
  }
}

describe('doctor sweepers', () => {
  it('every table of the state database has a sweeper, or a reason in UNSWEPT_TABLES', async () => {
    const tables = await withNewDatabase(async (file) => {
      await (await openStore(file)).close();
      return tablesOf(file);
    });
    expect(tables.length).toBeGreaterThan(5);
    const swept = new Set(SWEEPERS.flatMap((sweeper) => sweeper.tables));
    expect(tables.filter((table) => !swept.has(table) && !(table in UNSWEPT_TABLES))).toEqual([]);
    // And no sweeper or exemption names a table that does not exist.
    expect([...swept, ...Object.keys(UNSWEPT_TABLES)].filter((table) => !tables.includes(table))).toEqual([]);
  });

  it('each sweeper has its own name, and the dead runs are marked failed last', () => {
    const names = SWEEPERS.map((sweeper) => sweeper.name);
    expect(new Set(names).size).toBe(names.length);
    expect(SWEEPERS.at(-1)?.tables).toEqual(['runs']);
  });

  it('runs every sweeper in order; a dry run reports what it would do and changes nothing', async () => {
    await withNewDatabase(async (file) => {
      const store = await openStore(file);
      try {
        const seen: string[] = [];
        const sweeper = (name: string): Sweeper => ({
          name,
          tables: [],
          async sweep({ act, report }) {
            seen.push(name);
            await act(`${name} thing`, 'remove it', () => Promise.reject(new Error('must not run')));
            report(`${name} elsewhere`, 'left alone');
          },
        });
        const { findings } = await runDoctor(store, file, true, [sweeper('a'), sweeper('b')]);
        expect(seen).toEqual(['a', 'b']);
        expect(findings).toEqual([
          { what: 'a thing', action: 'would remove it', ok: true },
          { what: 'a elsewhere', action: 'left alone', ok: true },
          { what: 'b thing', action: 'would remove it', ok: true },
          { what: 'b elsewhere', action: 'left alone', ok: true },
        ]);
        const cleaned = await runDoctor(store, file, false, [sweeper('a')]);
        expect(cleaned.findings[0]).toEqual({
          what: 'a thing',
          action: 'could not remove it: must not run',
          ok: false,
        });
      } finally {
        await store.close();
      }
    });
  });
});
