// What runs took on nodes (see migrations/011-node-resources.ts): recorded before it is taken,
// forgotten once given back; a second record of the same thing replaces the first.

import type { Kysely } from 'kysely';
import { nowIso } from './new-id.js';
import type { NodeResource } from './records.js';
import type { StoreDatabase } from './schema.js';

type Db = Kysely<StoreDatabase>;

// Recorded again (new facts) in one transaction: a kill between forget and insert must not lose it.
export async function recordNodeResource(db: Db, resource: Omit<NodeResource, 'since'>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await forgetNodeResource(trx, resource.node, resource.kind, resource.name);
    await trx
      .insertInto('node_resources')
      .values({
        run_id: resource.runId,
        node: resource.node,
        kind: resource.kind,
        name: resource.name,
        facts: JSON.stringify(resource.facts),
        since: nowIso(),
      })
      .execute();
  });
}

export async function forgetNodeResource(db: Db, node: string, kind: string, name: string): Promise<void> {
  await db
    .deleteFrom('node_resources')
    .where('node', '=', node)
    .where('kind', '=', kind)
    .where('name', '=', name)
    .execute();
}

export async function allNodeResources(db: Db): Promise<readonly NodeResource[]> {
  const rows = await db.selectFrom('node_resources').selectAll().orderBy('since').orderBy('name').execute();
  return Object.freeze(
    rows.map((row) =>
      Object.freeze({
        runId: row.run_id,
        node: row.node,
        kind: row.kind,
        name: row.name,
        facts: Object.freeze(JSON.parse(row.facts) as Record<string, unknown>),
        since: row.since,
      }),
    ),
  );
}
