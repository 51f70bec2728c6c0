// The SQLite driver the hub loads must be one this Node.js can run for hours: better-sqlite3 12
// aborts the process on Node.js 24.19 and later when the garbage collector frees its statements
// after their thread is gone, which is what a worker thread ending does.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sqliteDriverName } from '../../src/store/sqlite-driver.js';

const run = promisify(execFile);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(resolve('.tmp'), 'sqlite-driver-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the SQLite driver', () => {
  it('is better-sqlite3 13 where Node-API 10 exists, 12 on Node.js 20 (Node-API 9)', () => {
    expect(sqliteDriverName(9)).toBe('better-sqlite3');
    expect(sqliteDriverName(10)).toBe('better-sqlite3-13');
  });

  it(`survives statements freed after their worker thread ended (Node.js ${process.versions.node})`, async () => {
    const script = join(dir, 'worker-statements.mjs');
    const driver = resolve('dist/src/store/sqlite-driver.js');
    await writeFile(
      script,
      `import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { SqliteDatabase } from ${JSON.stringify(driver)};
if (isMainThread) {
  for (let round = 0; round < 8; round += 1) {
    await new Promise((done, fail) => {
      const worker = new Worker(new URL(import.meta.url), { workerData: ':memory:' });
      worker.on('error', fail);
      worker.on('exit', done);
    });
    globalThis.gc();
  }
  console.log('ok');
} else {
  const db = new SqliteDatabase(workerData);
  db.exec('create table if not exists t (n integer)');
  for (let i = 0; i < 2000; i += 1) db.prepare('insert into t values (?)').run(i);
  for (let i = 0; i < 2000; i += 1) db.prepare('select count(*) from t where n = ?').get(i);
}
`,
    );
    const { stdout } = await run(process.execPath, ['--expose-gc', script], { timeout: 60_000 });
    expect(stdout.trim()).toBe('ok');
  });
});
