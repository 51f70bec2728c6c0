// Data the busybox guest writes on request, and the model of its vdb it gives: zeroes, the guest's
// counter at 1 MiB (its value checked elsewhere, libvirt-guest.ts), and what it wrote. The guest
// copies the first MiB of its busybox, the same binary as the host's /bin/busybox.

import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { virsh, waitFor, type TestGuest } from '../support/libvirt-guest.js';

const MiB = 1024 * 1024;
/** vdb's size (libvirt-guest.ts). */
export const VDB = 64 * MiB;
const COUNTER = { offset: MiB, length: 4096 };
const BUSYBOX = readFileSync('/bin/busybox').subarray(0, MiB);

export interface Written {
  readonly offset: number;
  readonly bytes: Buffer;
}

// The guest copies the first MiB of its busybox to vdb at `offset` (O_DIRECT, synced) through its agent.
export async function guestWritesBusybox(guest: TestGuest, offset: number): Promise<Written> {
  const args = [
    'if=/bin/busybox',
    'of=/dev/vdb',
    'bs=65536',
    `seek=${offset / 65536}`,
    'count=16',
    'oflag=direct',
    'conv=fsync,notrunc',
  ];
  const started = JSON.parse(
    virsh(
      'qemu-agent-command',
      guest.name,
      JSON.stringify({ execute: 'guest-exec', arguments: { path: '/bin/dd', arg: args, 'capture-output': true } }),
    ),
  ) as {
    return: { pid: number };
  };
  let status: { exited: boolean; exitcode?: number; 'err-data'?: string } = { exited: false };
  await waitFor(
    () => {
      status = (
        JSON.parse(
          virsh(
            'qemu-agent-command',
            guest.name,
            JSON.stringify({ execute: 'guest-exec-status', arguments: { pid: started.return.pid } }),
          ),
        ) as { return: typeof status }
      ).return;
      return status.exited;
    },
    60_000,
    'dd in the guest',
  );
  expect(status.exitcode, Buffer.from(status['err-data'] ?? '', 'base64').toString()).toBe(0);
  return { offset, bytes: BUSYBOX };
}

// How a raw copy of vdb differs from zeroes plus `written` (the counter block aside): '' when it does not.
export function vdbDifference(file: string, written: readonly Written[]): string {
  const got = readFileSync(file);
  if (got.length !== VDB) return `${got.length} bytes, not ${VDB}`;
  const want = Buffer.alloc(VDB);
  for (const { offset, bytes } of written) bytes.copy(want, offset);
  got.fill(0, COUNTER.offset, COUNTER.offset + COUNTER.length);
  const blocks: number[] = [];
  for (let at = 0; at < VDB; at += 65536)
    if (!got.subarray(at, at + 65536).equals(want.subarray(at, at + 65536))) blocks.push(at);
  return blocks.length === 0 ? '' : `${blocks.length} blocks of 64 KiB differ, the first at byte ${blocks[0]}`;
}

/** The warning of an incremental that found disk `key` shrunk and grown back. */
export const shrunkAndGrown = (key: number): RegExp =>
  new RegExp(
    `disk ${key}: the disk reads zeroes at bytes \\d+-\\d+ where the parent point holds data, yet dirty bitmap '[^']+' says nothing changed there: it was shrunk and grown back since; every block is copied`,
  );
