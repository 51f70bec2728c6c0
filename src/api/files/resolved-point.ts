// The point a browse session reads, once resolved (./browse-sessions.ts, ./browse-records.ts).

import type { DiskKey } from '../../plan/types.js';

/** The point a session reads, once resolved. */
export interface ResolvedPoint {
  readonly vm: string;
  readonly backupId: string;
  readonly diskKey: DiskKey;
  readonly repository: string;
}
