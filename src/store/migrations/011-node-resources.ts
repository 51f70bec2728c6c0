// What a run takes on a node besides files and processes: a libvirt backup job, its scratch
// directory, a checkpoint, a frozen guest (docs/how-it-works.md#libvirt-domains). Recorded before
// it is taken, with how to reach the node again, so `doctor` gives back what a killed run left.

import type { Kysely, Migration } from 'kysely';

export const nodeResourcesMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('node_resources')
      .addColumn('run_id', 'text', (col) => col.notNull().references('runs.id'))
      .addColumn('node', 'text', (col) => col.notNull())
      .addColumn('kind', 'text', (col) => col.notNull())
      .addColumn('name', 'text', (col) => col.notNull())
      .addColumn('facts', 'text', (col) => col.notNull())
      .addColumn('since', 'text', (col) => col.notNull())
      .addPrimaryKeyConstraint('node_resources_pk', ['node', 'kind', 'name'])
      .execute();
  },
};
