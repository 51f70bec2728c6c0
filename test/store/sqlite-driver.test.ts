// The SQLite driver the hub loads must be one this Node.js can run for hours: better-sqlite3 12
// aborts the process on Node.js 24.19 and later when the garbage collector frees one of its
// statements outside a JS context (Assertion (env) != nullptr); 13 cannot load on Node.js 20.
// The abort itself depends on when the collector runs: on 24.21 with 12 forced, the suite's
// retention test died of it (a vitest worker exiting), which is why .ci/run runs the suite on 24.

import { describe, expect, it } from 'vitest';
import { SqliteDatabase, sqliteDriverName } from '../../src/store/sqlite-driver.js';

describe('the SQLite driver', () => {
  it('is better-sqlite3 13 where Node-API 10 exists, 12 on Node.js 20 (Node-API 9)', () => {
    expect(sqliteDriverName(9)).toBe('better-sqlite3');
    expect(sqliteDriverName(10)).toBe('better-sqlite3-13');
  });

  it(`loads on this Node.js (${process.versions.node}, Node-API ${process.versions.napi})`, () => {
    const db = new SqliteDatabase(':memory:');
    expect(db.prepare('select 6 * 7 as answer').get()).toEqual({ answer: 42 });
    db.close();
  });
});
