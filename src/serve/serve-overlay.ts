// One disk's overlay for `serve --writable` (docs/instant-recovery.md): a qcow2 whose backing is
// the point's file, so the guest's writes land here and the backup file is only read. Recorded as
// the run's file before it exists (doctor deletes a killed serve's), removed when serving stops.

import { chmod, rm } from 'node:fs/promises';
import path from 'node:path';
import type { UndoStack } from '../engine/undo-stack.js';
import { LOCAL_NODE_ID } from '../node/node.js';
import { createOverlay } from '../qemu/index.js';
import type { PointDisk } from '../repository/find-point.js';
import type { Store } from '../store/index.js';

export const OVERLAY_FILE_KIND = 'serve-overlay';

export async function createServeOverlay(
  store: Store,
  runId: string,
  dir: string,
  disk: PointDisk,
  undo: UndoStack,
): Promise<string> {
  const overlay = path.join(dir, `${runId}-disk-${disk.key}.qcow2`);
  await store.recordRunFile({ runId, node: LOCAL_NODE_ID, path: overlay, kind: OVERLAY_FILE_KIND });
  undo.push({
    what: `remove the overlay ${overlay} of disk ${disk.key}`,
    when: 'always',
    step: 'serve',
    run: async () => {
      await rm(overlay, { force: true });
      await store.forgetRunFile(LOCAL_NODE_ID, overlay);
    },
  });
  // The size is given, so the point's file (encrypted or not) is not opened here.
  await createOverlay(overlay, disk.file, { backingFormat: 'qcow2', sizeBytes: disk.virtualSize });
  // What the guest writes is as private as the repository's files (qemu-img follows the umask).
  await chmod(overlay, 0o600);
  return overlay;
}
