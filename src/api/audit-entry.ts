// One action in the audit record (docs/api.md#the-audit-record), its target and outcome masked of secrets.

import { maskSecrets } from '../secrets/mask.js';
import type { ApiContext } from './route.js';

export type AuditEntry = Parameters<ApiContext['store']['api']['addAudit']>[0];

export async function audit(api: ApiContext, entry: AuditEntry): Promise<string | undefined> {
  try {
    return await api.store.api.addAudit({
      ...entry,
      target: entry.target === null ? null : maskSecrets(entry.target),
      outcome: maskSecrets(entry.outcome),
    });
  } catch {
    // The record is best effort: a failed write must not turn a done action into an error.
    return undefined;
  }
}
