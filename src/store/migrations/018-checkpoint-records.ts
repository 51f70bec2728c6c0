// libvirt checkpoints outlive the runs that made them (docs/how-it-works.md#checkpoints-on-a-domain):
// the domains a libvirt source took them on, with how to reach the node again, so `checkpoints`,
// `forget` and `doctor` find them; and the chains `retire` ended, so the plan's next run takes a
// full instead of looking for the checkpoints retire deleted.

import type { Kysely, Migration } from 'kysely';

export const checkpointRecordsMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('checkpoint_domains')
      .addColumn('node', 'text', (col) => col.notNull())
      .addColumn('uri', 'text', (col) => col.notNull())
      .addColumn('domain', 'text', (col) => col.notNull())
      .addColumn('vm', 'text', (col) => col.notNull())
      .addColumn('node_spec', 'text')
      .addColumn('seen_at', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('checkpoint_domains_pk', ['node', 'uri', 'domain', 'vm'])
      .execute();
    await db.schema
      .createTable('retired_chains')
      .addColumn('chain_id', 'text', (col) => col.primaryKey())
      .addColumn('plan', 'text', (col) => col.notNull())
      .addColumn('vm', 'text', (col) => col.notNull())
      .addColumn('repository', 'text', (col) => col.notNull())
      .addColumn('run_id', 'text', (col) => col.notNull())
      .addColumn('retired_at', 'text', (col) => col.notNull())
      .execute();
  },
};
