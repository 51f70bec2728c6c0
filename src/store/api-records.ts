// The API's own records (docs/api.md#tokens-and-roles, #the-audit-record, #tasks): tokens by the
// SHA-256 of their secret, the audit record of every action, and the API's tasks.

import type { Kysely } from 'kysely';
import { newId, nowIso } from './new-id.js';
import type { ApiAuditTable, ApiTasksTable, ApiTokensTable, StoreDatabase } from './schema.js';

type Db = Kysely<StoreDatabase>;

export interface ApiToken {
  readonly name: string;
  readonly role: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
}

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

export interface ApiTask {
  readonly id: string;
  readonly operation: string;
  readonly title: string;
  readonly token: string | null;
  readonly hub: string | null;
  readonly status: string;
  readonly startedAt: string;
  readonly endedAt: string | null;
  readonly exitCode: number | null;
  readonly pid: number | null;
  /** The start time of that process (docs/api.md#tasks): with the PID, which process it is. */
  readonly pidStartTicks: number | null;
  readonly runId: string | null;
  readonly error: string | null;
}

export interface ApiRecords {
  /** Throws (unique name or secret) when the name is taken: the caller says so. */
  addToken(token: {
    readonly name: string;
    readonly role: string;
    readonly secretHash: string;
    readonly expiresAt: string | null;
  }): Promise<ApiToken>;
  listTokens(): Promise<readonly ApiToken[]>;
  /** True when there was one. */
  removeToken(name: string): Promise<boolean>;
  /** The token whose secret has this hash, and its last use noted; undefined if none. */
  tokenByHash(secretHash: string): Promise<ApiToken | undefined>;
  /** The new entry's id. */
  addAudit(entry: Omit<ApiAuditEntry, 'id' | 'at'>): Promise<string>;
  /** A new outcome for an entry (a tally of refusals folded into one entry). */
  setAuditOutcome(id: string, outcome: string): Promise<void>;
  /** Newest first. */
  listAudit(filter?: { readonly limit?: number; readonly token?: string }): Promise<readonly ApiAuditEntry[]>;
  saveTask(task: ApiTask): Promise<void>;
  getTask(id: string): Promise<ApiTask | undefined>;
  /** Newest first. */
  listTasks(filter?: { readonly limit?: number }): Promise<readonly ApiTask[]>;
  /** Tasks of this hub marked running: this server's, another live server's, or a dead server's. */
  runningTasks(hub: string): Promise<readonly ApiTask[]>;
  /** Marks a running task lost (its process is gone, nobody recorded its end); false if it had ended. */
  loseTask(id: string, error: string): Promise<boolean>;
}

const token = (row: ApiTokensTable): ApiToken => ({
  name: row.name,
  role: row.role,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  lastUsedAt: row.last_used_at,
});
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
const task = (row: ApiTasksTable): ApiTask => ({
  id: row.id,
  operation: row.operation,
  title: row.title,
  token: row.token,
  hub: row.hub,
  status: row.status,
  startedAt: row.started_at,
  endedAt: row.ended_at,
  exitCode: row.exit_code === null ? null : Number(row.exit_code),
  pid: row.pid === null ? null : Number(row.pid),
  pidStartTicks: row.pid_start_ticks === null ? null : Number(row.pid_start_ticks),
  runId: row.run_id,
  error: row.error,
});

// Last use is noted at most once a minute per token: a busy console must not write on every read.
const LAST_USED_EVERY_MS = 60_000;

export function apiRecords(db: Db): ApiRecords {
  return {
    async addToken({ name, role, secretHash, expiresAt }) {
      const row: ApiTokensTable = {
        name,
        role,
        secret_hash: secretHash,
        created_at: nowIso(),
        expires_at: expiresAt,
        last_used_at: null,
      };
      await db.insertInto('api_tokens').values(row).execute();
      return token(row);
    },
    async listTokens() {
      return (await db.selectFrom('api_tokens').selectAll().orderBy('name').execute()).map(token);
    },
    async removeToken(name) {
      const result = await db.deleteFrom('api_tokens').where('name', '=', name).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
    async tokenByHash(secretHash) {
      const row = await db
        .selectFrom('api_tokens')
        .selectAll()
        .where('secret_hash', '=', secretHash)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      const now = nowIso();
      if (row.last_used_at === null || Date.parse(now) - Date.parse(row.last_used_at) > LAST_USED_EVERY_MS) {
        await db.updateTable('api_tokens').set({ last_used_at: now }).where('name', '=', row.name).execute();
        return token({ ...row, last_used_at: now });
      }
      return token(row);
    },
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
    async saveTask(saved) {
      const row: ApiTasksTable = {
        id: saved.id,
        operation: saved.operation,
        title: saved.title,
        token: saved.token,
        hub: saved.hub,
        status: saved.status,
        started_at: saved.startedAt,
        ended_at: saved.endedAt,
        exit_code: saved.exitCode,
        pid: saved.pid,
        pid_start_ticks: saved.pidStartTicks,
        run_id: saved.runId,
        error: saved.error,
      };
      await db
        .insertInto('api_tasks')
        .values(row)
        .onConflict((oc) =>
          oc.column('id').doUpdateSet({
            status: row.status,
            ended_at: row.ended_at,
            exit_code: row.exit_code,
            pid: row.pid,
            pid_start_ticks: row.pid_start_ticks,
            run_id: row.run_id,
            error: row.error,
          }),
        )
        .execute();
    },
    async getTask(id) {
      const row = await db.selectFrom('api_tasks').selectAll().where('id', '=', id).executeTakeFirst();
      return row === undefined ? undefined : task(row);
    },
    async listTasks(filter = {}) {
      let query = db.selectFrom('api_tasks').selectAll().orderBy('started_at', 'desc').orderBy('id', 'desc');
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(task);
    },
    async runningTasks(hub) {
      const rows = await db
        .selectFrom('api_tasks')
        .selectAll()
        .where('status', '=', 'running')
        .where('hub', '=', hub)
        .orderBy('started_at')
        .execute();
      return rows.map(task);
    },
    async loseTask(id, error) {
      // Only while still running: the task's own server may have recorded its end meanwhile.
      const result = await db
        .updateTable('api_tasks')
        .set({ status: 'lost', ended_at: nowIso(), error })
        .where('id', '=', id)
        .where('status', '=', 'running')
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },
  };
}
