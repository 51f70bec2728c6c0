// Which backup files were written with a manifest, so a manifest that goes missing later is damage
// and not a backup "taken before manifests existed" (docs/how-it-works.md#verification); and a
// run's note: what a run that succeeded wants its history to say (verify clearing a damage mark).
// A backup recorded before this migration counts as written with one when its manifest is there now.

import { existsSync } from 'node:fs';
import type { Kysely, Migration } from 'kysely';
import { manifestPath } from '../../repository/manifest.js';

export const manifestFactsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .alterTable('backup_disks')
      .addColumn('manifest', 'integer', (col) => col.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable('runs').addColumn('note', 'text').execute();
    const rows = (await db
      .selectFrom('backup_disks')
      .select(['backup_id', 'disk_key', 'file'])
      .where('status', '=', 'complete')
      .execute()) as {
      backup_id: string;
      disk_key: number;
      file: string;
    }[];
    for (const row of rows) {
      if (!existsSync(manifestPath(row.file))) continue;
      await db
        .updateTable('backup_disks')
        .set({ manifest: 1 })
        .where('backup_id', '=', row.backup_id)
        .where('disk_key', '=', row.disk_key)
        .execute();
    }
  },
};
