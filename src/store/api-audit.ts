// The API's audit record (docs/api.md#the-audit-record): every action, who asked and how it ended.

import type { Kysely } from 'kysely';
import { newId, nowIso } from './new-id.js';
import type { ApiAuditTable, StoreDatabase } from './schema.js';

export interface ApiAuditEntry {
  readonly id: string;
  readonly at: string;
  readonly token: string | null;
  readonly address: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly status: number;
  readonly outcome: string;
  readonly taskId: string | null;
}

export interface ApiAudit {
  /** The new entry's id. */
  addAudit(entry: Omit<ApiAuditEntry, 'id' | 'at'>): Promise<string>;
  /** A new outcome for an entry (a tally of refusals folded into one entry). */
  setAuditOutcome(id: string, outcome: string): Promise<void>;
  /** Newest first. */
  listAudit(filter?: { readonly limit?: number; readonly token?: string }): Promise<readonly ApiAuditEntry[]>;
}

const audit = (row: ApiAuditTable): ApiAuditEntry => ({
  id: row.id,
  at: row.at,
  token: row.token,
  address: row.address,
  action: row.action,
  target: row.target,
  status: Number(row.status),
  outcome: row.outcome,
  taskId: row.task_id,
});

export function apiAudit(db: Kysely<StoreDatabase>): ApiAudit {
  return {
    async addAudit(entry) {
      const id = newId();
      await db
        .insertInto('api_audit')
        .values({
          id,
          at: nowIso(),
          token: entry.token,
          address: entry.address,
          action: entry.action,
          target: entry.target,
          status: entry.status,
          outcome: entry.outcome,
          task_id: entry.taskId,
        })
        .execute();
      return id;
    },
    async setAuditOutcome(id, outcome) {
      await db.updateTable('api_audit').set({ outcome }).where('id', '=', id).execute();
    },
    async listAudit(filter = {}) {
      let query = db.selectFrom('api_audit').selectAll().orderBy('at', 'desc').orderBy('id', 'desc');
      if (filter.token !== undefined) query = query.where('token', '=', filter.token);
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(audit);
    },
  };
}
