// How random each backup disk's changed data was (docs/anomaly.md#what-is-measured): 64 KiB blocks
// sampled and how many did not compress, as the transfer measured them; null before it did.

import type { Kysely, Migration } from 'kysely';

export const changeSamplesMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('backup_disks').addColumn('sampled_blocks', 'integer').execute();
    await db.schema.alterTable('backup_disks').addColumn('incompressible_blocks', 'integer').execute();
  },
};
