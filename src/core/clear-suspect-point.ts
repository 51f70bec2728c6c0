// Clear a suspect point (docs/anomaly.md#clearing-a-suspect-point): the mark stays in its record as
// cleared, with who and when, and the clean points it kept go back to retention, prune and forget.
// `clear VM --point ID` and POST /api/v1/backups/ID/clear.

import { Type, type Static } from '@sinclair/typebox';
import { SendenseError } from '../errors.js';
import type { Store } from '../store/index.js';

export const Cleared = Type.Object(
  {
    type: Type.Literal('cleared'),
    vm: Type.String(),
    backupId: Type.String(),
    by: Type.String({ description: 'the user (or API token) recorded as having cleared it' }),
    released: Type.Array(Type.String(), { description: 'the clean points it kept, back to retention' }),
  },
  { additionalProperties: false, description: 'the clearing as `clear --json` prints it (docs/json-events.md)' },
);
export type Cleared = Static<typeof Cleared>;

// Exit code 2 (the API's not-found, bad-request) when the VM has no such point or it is not suspect.
export async function clearSuspectPoint(store: Store, vm: string, id: string, by: string): Promise<Cleared> {
  const backup = await store.getBackup(id);
  if (backup === undefined || backup.vm !== vm)
    throw new SendenseError(`VM ${vm} has no backup ${id}`, { exitCode: 2 });
  if (backup.suspect === null)
    throw new SendenseError(`backup ${id} of VM ${vm} is not suspect: nothing to clear`, { exitCode: 2 });
  const released = await store.clearSuspect(id, by);
  return { type: 'cleared', vm, backupId: id, by, released: [...released] };
}
