// The hub's HTTP API (docs/api.md): its tokens (only a SHA-256 of each secret), the record of every
// action taken through it, its tasks, and the actor (token name) of a run the API started.

import type { Kysely, Migration } from 'kysely';

export const apiMigration: Migration = {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- kysely migrations and dialects work on any schema
  async up(db: Kysely<any>): Promise<void> {
    await db.schema
      .createTable('api_tokens')
      .addColumn('name', 'text', (col) => col.primaryKey())
      .addColumn('role', 'text', (col) => col.notNull())
      .addColumn('secret_hash', 'text', (col) => col.notNull().unique())
      .addColumn('created_at', 'text', (col) => col.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('last_used_at', 'text')
      .execute();
    await db.schema
      .createTable('api_audit')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('at', 'text', (col) => col.notNull())
      .addColumn('token', 'text')
      .addColumn('address', 'text')
      .addColumn('action', 'text', (col) => col.notNull())
      .addColumn('target', 'text')
      .addColumn('status', 'integer', (col) => col.notNull())
      .addColumn('outcome', 'text', (col) => col.notNull())
      .addColumn('task_id', 'text')
      .execute();
    await db.schema.createIndex('api_audit_at').on('api_audit').column('at').execute();
    await db.schema
      .createTable('api_tasks')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('operation', 'text', (col) => col.notNull())
      .addColumn('title', 'text', (col) => col.notNull())
      .addColumn('token', 'text')
      .addColumn('hub', 'text')
      .addColumn('status', 'text', (col) => col.notNull())
      .addColumn('started_at', 'text', (col) => col.notNull())
      .addColumn('ended_at', 'text')
      .addColumn('exit_code', 'integer')
      .addColumn('pid', 'integer')
      .addColumn('run_id', 'text')
      .addColumn('error', 'text')
      .execute();
    await db.schema.createIndex('api_tasks_started').on('api_tasks').column('started_at').execute();
    await db.schema.alterTable('runs').addColumn('actor', 'text').execute();
  },
};
