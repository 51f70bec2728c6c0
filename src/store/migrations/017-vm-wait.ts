// How long a run waited for its VM while another plan's run held it (docs/how-it-works.md#busy-vms),
// shown by history beside the wait for disk slots.

import type { Kysely, Migration } from 'kysely';

export const vmWaitMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema.alterTable('runs').addColumn('vm_wait_seconds', 'real').execute();
  },
};
