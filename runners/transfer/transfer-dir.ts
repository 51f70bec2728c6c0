// The transfer's private directory in $TMPDIR, for the Unix sockets of its own qemu-nbd
// (serve-image.ts). A transfer killed outright leaves it behind, its qemu-nbd gone with it and
// their sockets answered by nobody; the next transfer on the same host removes it once it is a
// minute old (src/qemu/socket-dir.ts). The transfer listens on a socket of its own there until
// it ends, so a live transfer's directory is never taken for a dead one, even while only qemu-img
// runs, which puts nothing there.

import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { makeSocketDir } from '../../src/qemu/socket-dir.js';

export const TRANSFER_DIR_PREFIX = 'sendense-transfer-';

export interface TransferDir {
  readonly path: string;
  /** Stops listening and removes the directory with whatever is left in it. */
  close(): Promise<void>;
}

export async function openTransferDir(): Promise<TransferDir> {
  const path = await makeSocketDir(TRANSFER_DIR_PREFIX, { sweepDeadSockets: true });
  // Whoever connects is let go at once; unref'd, it never keeps the transfer running.
  const alive = createServer((connection) => connection.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      alive.once('error', reject);
      alive.listen(join(path, 'transfer.sock'), resolve);
    });
  } catch (error) {
    await rm(path, { recursive: true, force: true });
    throw error;
  }
  alive.unref();
  return {
    path,
    async close() {
      await new Promise<void>((resolve) => alive.close(() => resolve()));
      await rm(path, { recursive: true, force: true });
    },
  };
}
