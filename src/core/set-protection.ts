// Protect or unprotect a point (docs/how-it-works.md#protected-points): a protected point is never
// merged, removed or merged into by retention (prune, the retention step) or forget. Recorded in
// the state database and, so the repository stays self-describing, as <repository>/<vm>/protected/<id>
// (catalog import restores it). `protect`/`unprotect` and POST /api/v1/backups/ID/(un)protect.

import { constants } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { isSendenseError, SendenseError } from '../errors.js';
import { protectionMarkerFile } from '../repository/layout.js';
import { makePrivateDirs, requireRealDirs } from '../repository/private-dirs.js';
import type { Store } from '../store/index.js';

export const SetProtectionInput = Type.Object(
  {
    vm: Type.String({ minLength: 1 }),
    point: Type.String({ minLength: 1, description: "the backup's id" }),
    protected: Type.Boolean({ description: 'true: protect; false: give it back to retention and forget' }),
  },
  { additionalProperties: false },
);
export type SetProtectionInput = Static<typeof SetProtectionInput>;

export const Protection = Type.Object(
  {
    type: Type.Literal('protection'),
    vm: Type.String(),
    backupId: Type.String(),
    protected: Type.Boolean({ description: "the point's mark now" }),
    changed: Type.Boolean({ description: 'false when it was so already' }),
  },
  { additionalProperties: false, description: 'the mark as `protect --json` prints it (docs/json-events.md)' },
);
export type Protection = Static<typeof Protection>;

// Exit code 2 (the API's not-found) when the VM has no such backup.
export async function setProtection(store: Store, input: SetProtectionInput): Promise<Protection> {
  const { vm, point: id, protected: on } = input;
  const backup = await store.getBackup(id);
  if (backup === undefined || backup.vm !== vm)
    throw new SendenseError(`VM ${vm} has no backup ${id}`, { exitCode: 2 });
  const marker = protectionMarkerFile(backup.repository, vm, id);
  // The repository first: a marker without the database's mark only protects more, never less.
  if (on) {
    await makePrivateDirs(path.dirname(marker), backup.repository).catch((error: unknown) => {
      throw isSendenseError(error) ? new SendenseError(`${error.message}: ${id} not protected`) : error;
    });
    // Never through a symlink put under its name by whoever can write the repository (docs/threat-model.md).
    await writeFile(marker, `protected ${new Date().toISOString()}\n`, {
      flag: constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ELOOP') throw error;
      throw new SendenseError(`${marker} is a symlink, which is not followed: ${id} not protected`);
    });
    await store.setProtected(id, true);
  } else {
    await requireRealDirs(backup.repository, path.dirname(marker));
    await store.setProtected(id, false);
    await rm(marker, { force: true });
  }
  return { type: 'protection', vm, backupId: id, protected: on, changed: backup.protected !== on };
}
