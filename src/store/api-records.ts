// The API's own records (docs/api.md#tokens-and-roles, #the-audit-record, #tasks): tokens by the
// SHA-256 of their secret (./api-tokens.ts), the audit record of every action (./api-audit.ts),
// and the API's tasks (./api-tasks.ts).

import type { Kysely } from 'kysely';
import { apiAudit, type ApiAudit } from './api-audit.js';
import { apiTasks, type ApiTasks } from './api-tasks.js';
import { apiTokens, type ApiTokens } from './api-tokens.js';
import type { StoreDatabase } from './schema.js';

export type { ApiAuditEntry } from './api-audit.js';
export type { ApiTask } from './api-tasks.js';
export type { ApiToken } from './api-tokens.js';

export interface ApiRecords extends ApiTokens, ApiAudit, ApiTasks {}

export function apiRecords(db: Kysely<StoreDatabase>): ApiRecords {
  return { ...apiTokens(db), ...apiAudit(db), ...apiTasks(db) };
}
