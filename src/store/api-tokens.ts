// The API's tokens (docs/api.md#tokens-and-roles): kept by the SHA-256 of their secret, never the secret.

import type { Kysely } from 'kysely';
import { nowIso } from './new-id.js';
import type { ApiTokensTable, StoreDatabase } from './schema.js';

export interface ApiToken {
  readonly name: string;
  readonly role: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly lastUsedAt: string | null;
}

export interface ApiTokens {
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
}

const token = (row: ApiTokensTable): ApiToken => ({
  name: row.name,
  role: row.role,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  lastUsedAt: row.last_used_at,
});

// Last use is noted at most once a minute per token: a busy console must not write on every read.
const LAST_USED_EVERY_MS = 60_000;

export function apiTokens(db: Kysely<StoreDatabase>): ApiTokens {
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
  };
}
