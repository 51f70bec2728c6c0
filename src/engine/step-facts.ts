// What steps report as data for --json readers (docs/json-events.md): the `facts` of a step-done
// event and of run-end, and the shapes several kinds' steps share.

import { describeNbdAddress } from '../nbd/index.js';

export type Facts = Readonly<Record<string, unknown>>;

export interface DiskFacts {
  readonly key: number;
  /** Bytes copied; null when not known (e.g. a restore by qemu-img convert). */
  readonly bytes: number | null;
  readonly changeId?: string | null;
}

// Bytes per disk and in total (a disk whose count is not known counts 0 in the total; null when no
// disk's is known); with changeIds, each disk's change_id too (run-end of a backup).
export function bytesFacts(
  disks: readonly { readonly key: number; readonly bytes?: number; readonly changeId?: string }[],
  changeIds = false,
): { disks: DiskFacts[]; bytes: number | null } {
  const known = disks.flatMap((disk) => (disk.bytes === undefined ? [] : [disk.bytes]));
  return {
    disks: disks.map((disk) => ({
      key: disk.key,
      bytes: disk.bytes ?? null,
      ...(changeIds ? { changeId: disk.changeId ?? null } : {}),
    })),
    bytes: known.length === 0 ? null : known.reduce((sum, bytes) => sum + bytes, 0),
  };
}

// The hub's qemu-nbd export of a disk (its Unix socket, or 127.0.0.1 of the hub).
export function exportUrl({
  port,
  socket,
  exportName,
}: {
  readonly port?: number;
  readonly socket?: string;
  readonly exportName: string;
}): string | null {
  if (socket !== undefined) return describeNbdAddress({ kind: 'unix', socketPath: socket, exportName });
  return port === undefined ? null : describeNbdAddress({ kind: 'tcp', host: '127.0.0.1', port, exportName });
}
