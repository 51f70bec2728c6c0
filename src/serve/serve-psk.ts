// The pre-shared key of a `serve --tcp` (docs/instant-recovery.md#serving-on-a-port): a new random
// key per serve, in keys.psk (0600) of a private (0700) directory of its own, which qemu-nbd reads
// on each TLS handshake. Recorded as the run's file (doctor deletes a killed serve's), removed when
// serving stops. Its path is printed, never the key.

import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { UndoStack } from '../engine/undo-stack.js';
import { LOCAL_NODE_ID } from '../node/node.js';
import { makeSocketDir } from '../qemu/socket-dir.js';
import type { Store } from '../store/index.js';

export const PSK_FILE_KIND = 'serve-psk';
/** The TLS identity the key goes with (the user of an nbds:// URL). */
export const PSK_USERNAME = 'sendense';

export interface ServePsk {
  /** The directory qemu-nbd's tls-creds-psk reads (dir=). */
  readonly dir: string;
  /** Its keys.psk, for clients (libnbd's tls-psk-file=, QEMU's tls-creds-psk dir=). */
  readonly file: string;
  readonly username: string;
}

export async function createServePsk(store: Store, runId: string, undo: UndoStack): Promise<ServePsk> {
  const dir = await makeSocketDir('sendense-serve-tls-');
  const file = path.join(dir, 'keys.psk');
  undo.push({
    what: `remove the TLS key directory ${dir}`,
    when: 'always',
    step: 'serve',
    run: () => rm(dir, { recursive: true, force: true }),
  });
  await store.recordRunFile({ runId, node: LOCAL_NODE_ID, path: file, kind: PSK_FILE_KIND });
  undo.push({
    what: `forget the TLS key file ${file}`,
    when: 'always',
    step: 'serve',
    run: () => store.forgetRunFile(LOCAL_NODE_ID, file),
  });
  await writeFile(file, `${PSK_USERNAME}:${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  return Object.freeze({ dir, file, username: PSK_USERNAME });
}
