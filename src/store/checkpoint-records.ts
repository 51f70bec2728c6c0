// Where libvirt checkpoints were taken and which chains `retire` ended (see
// migrations/018-checkpoint-records.ts): kept for good, a few rows per domain and plan.

import type { Kysely } from 'kysely';
import type { NodeSpec } from '../plan/types.js';
import { nowIso } from './new-id.js';
import type { CheckpointDomain, RetiredChain } from './records.js';
import type { StoreDatabase } from './schema.js';

type Db = Kysely<StoreDatabase>;

export async function recordCheckpointDomain(db: Db, where: Omit<CheckpointDomain, 'seenAt'>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .deleteFrom('checkpoint_domains')
      .where('node', '=', where.node)
      .where('uri', '=', where.uri)
      .where('domain', '=', where.domain)
      .where('vm', '=', where.vm)
      .execute();
    await trx
      .insertInto('checkpoint_domains')
      .values({
        node: where.node,
        uri: where.uri,
        domain: where.domain,
        vm: where.vm,
        node_spec: where.nodeSpec === null ? null : JSON.stringify(where.nodeSpec),
        seen_at: nowIso(),
      })
      .execute();
  });
}

export async function checkpointDomains(db: Db): Promise<readonly CheckpointDomain[]> {
  const rows = await db.selectFrom('checkpoint_domains').selectAll().orderBy('node').orderBy('domain').execute();
  return Object.freeze(
    rows.map((row) =>
      Object.freeze({
        node: row.node,
        nodeSpec: row.node_spec === null ? null : (JSON.parse(row.node_spec) as NodeSpec),
        uri: row.uri,
        domain: row.domain,
        vm: row.vm,
        seenAt: row.seen_at,
      }),
    ),
  );
}

// A chain retired twice keeps its first record.
export async function retireChains(db: Db, chains: readonly Omit<RetiredChain, 'retiredAt'>[]): Promise<void> {
  const known = new Set((await retiredChains(db)).map((chain) => chain.chainId));
  const at = nowIso();
  const fresh = chains.filter((chain) => !known.has(chain.chainId));
  if (fresh.length === 0) return;
  await db
    .insertInto('retired_chains')
    .values(
      fresh.map((chain) => ({
        chain_id: chain.chainId,
        plan: chain.plan,
        vm: chain.vm,
        repository: chain.repository,
        run_id: chain.runId,
        retired_at: at,
      })),
    )
    .execute();
}

export async function retiredChains(db: Db): Promise<readonly RetiredChain[]> {
  const rows = await db.selectFrom('retired_chains').selectAll().orderBy('retired_at').execute();
  return Object.freeze(
    rows.map((row) =>
      Object.freeze({
        chainId: row.chain_id,
        plan: row.plan,
        vm: row.vm,
        repository: row.repository,
        runId: row.run_id,
        retiredAt: row.retired_at,
      }),
    ),
  );
}
