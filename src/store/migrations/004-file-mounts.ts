// Read-only FUSE mounts of backup points (sendense-run mount), recorded before they can outlive
// the command so doctor can unmount what a killed one left.

import type { Kysely, Migration } from 'kysely';

export const fileMountsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('file_mounts')
      .addColumn('dir', 'text', (col) => col.primaryKey())
      .addColumn('vm', 'text', (col) => col.notNull())
      .addColumn('backup_id', 'text', (col) => col.notNull())
      .addColumn('disk_key', 'integer', (col) => col.notNull())
      .addColumn('server_pid', 'integer', (col) => col.notNull())
      .addColumn('server_start_ticks', 'integer', (col) => col.notNull())
      .addColumn('owner_pid', 'integer', (col) => col.notNull())
      .addColumn('owner_start_ticks', 'integer', (col) => col.notNull())
      .addColumn('hostname', 'text', (col) => col.notNull())
      .addColumn('since', 'text', (col) => col.notNull())
      .execute();
  },

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async down(db: Kysely<any>): Promise<void> {
    await db.schema.dropTable('file_mounts').execute();
  },
};
