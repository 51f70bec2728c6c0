// Unfinished files of runs (see migrations/003-run-files.ts): recorded before they are created,
// forgotten once they are renamed into place or removed.

import type { Kysely } from 'kysely';
import { nowIso } from './new-id.js';
import type { RunFile } from './records.js';
import type { StoreDatabase } from './schema.js';

type Db = Kysely<StoreDatabase>;

export async function recordRunFile(db: Db, file: Omit<RunFile, 'since'>): Promise<void> {
  await db
    .insertInto('run_files')
    .values({ run_id: file.runId, node: file.node, path: file.path, kind: file.kind, since: nowIso() })
    .execute();
}

export async function forgetRunFile(db: Db, node: string, path: string): Promise<void> {
  await db.deleteFrom('run_files').where('node', '=', node).where('path', '=', path).execute();
}

export async function allRunFiles(db: Db): Promise<readonly RunFile[]> {
  const rows = await db.selectFrom('run_files').selectAll().orderBy('since').orderBy('path').execute();
  return Object.freeze(
    rows.map((row) =>
      Object.freeze({ runId: row.run_id, node: row.node, path: row.path, kind: row.kind, since: row.since }),
    ),
  );
}
