// One disk's qemu-nbd for `serve` (docs/instant-recovery.md): on a Unix socket in the serve's
// private directory, or with --tcp on 127.0.0.1 and its leased port behind NBD TLS with the serve's
// pre-shared key; read-only (-r) on the point's file, or read-write on its overlay; recorded by PID
// the moment it exists so doctor stops it if serve is killed, stopped by that PID when serving stops.

import type { UndoStack } from '../engine/undo-stack.js';
import { SendenseError } from '../errors.js';
import type { QemuNbd } from '../qemu/index.js';
import { startRecordedQemuNbd, unaskedExitMessage } from '../qemu/recorded-qemu-nbd.js';
import type { DiskKey } from '../plan/types.js';
import type { Store } from '../store/index.js';

/** Where a disk is served: a Unix socket, or a port with TLS (the directory of its keys.psk). */
export type ServeEndpoint = { readonly socket: string } | { readonly port: number; readonly tlsPskDir: string };

export interface DiskExport {
  readonly key: DiskKey;
  /** The point's file (read-only) or its overlay (writable). */
  readonly file: string;
  readonly writable: boolean;
  readonly endpoint: ServeEndpoint;
  readonly exportName: string;
  /** How many NBD clients at once. */
  readonly shared: number;
}

// `died` hears a qemu-nbd that exits unasked, with what it said.
export async function startDiskExport(
  store: Store,
  runId: string,
  disk: DiskExport,
  undo: UndoStack,
  died: (error: SendenseError) => void,
): Promise<QemuNbd> {
  const server = await startRecordedQemuNbd(store, runId, {
    file: disk.file,
    format: 'qcow2',
    ...disk.endpoint,
    exportName: disk.exportName,
    shared: disk.shared,
    readOnly: !disk.writable,
  });
  undo.push({
    what: `stop qemu-nbd (pid ${server.pid}) for disk ${disk.key}`,
    when: 'always',
    step: 'serve',
    run: async () => {
      await server.stop();
      await store.forgetProcess(server.pid);
    },
  });
  server.onExit((exit) => {
    if (exit.requested) return;
    died(new SendenseError(unaskedExitMessage(exit, disk.key, disk.file)));
  });
  return server;
}
