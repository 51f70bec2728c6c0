// A connection to PostgreSQL dropped while kysely holds it through a transaction, between two
// queries: the next query fails with an error the caller handles (a hub then fences itself), and
// the process does not crash on an 'error' event nobody listens to (pg's pool listens only while
// a client is idle). Real PostgreSQL, reached through a proxy the test cuts.

import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openPostgres, postgresConfig } from '../../src/store/open-postgres.js';
import { cuttableProxy } from '../support/cuttable-proxy.js';
import { usePostgresServer } from '../support/store-dialects.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('PostgreSQL out of reach mid-transaction', () => {
  const postgres = usePostgresServer();

  it('the next query of the transaction fails; the process lives on', async () => {
    const url = await postgres.server.createDatabase('cut');
    const proxy = await cuttableProxy(postgres.server.port);
    cleanups.push(() => proxy.close());
    const { config } = postgresConfig(url.replace(`127.0.0.1:${postgres.server.port}/`, `127.0.0.1:${proxy.port}/`));
    const db = openPostgres(config, 1);
    cleanups.push(() => db.destroy().catch(() => undefined));

    const transaction = db.transaction().execute(async (trx) => {
      await sql`select 1`.execute(trx);
      proxy.cut();
      // The dropped socket reaches the client while it is checked out and has no query running.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await sql`select 2`.execute(trx);
    });
    // Without a listener of its own on the client, its 'error' event goes unheard: vitest reports
    // "Connection terminated unexpectedly" as an unhandled error and the run fails.
    await expect(transaction).rejects.toThrow();
  });
});
