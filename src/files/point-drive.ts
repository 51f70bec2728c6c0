// How the libguestfs appliance reads a point's file (docs/file-level-restore.md). A plain chain: the
// qcow2 file itself, which libguestfs opens read-only with its backing files. An encrypted one (a
// LUKS file anywhere in the chain): libguestfs cannot hand QEMU the repository's secret, so a
// read-only qemu-nbd opens the chain with it (qemu/image-opts.ts) on a Unix socket in a private
// (0700) directory, and the appliance reads that export as a raw NBD drive. That qemu-nbd is
// recorded in the state database before it can outlive us (doctor stops a killed command's) and
// stopped, forgotten and its directory removed on close, whatever happened before.

import { chmod, rm } from 'node:fs/promises';
import path from 'node:path';
import { chainSecret } from '../qemu/image-opts.js';
import type { QemuNbd } from '../qemu/qemu-nbd.js';
import { makeSocketDir } from '../qemu/socket-dir.js';
import { startRecordedQemuNbd, type ProcessRecords } from '../qemu/recorded-qemu-nbd.js';
import type { GuestfsOptArgs } from './guestfs-agent.js';

/** What add_drive is given, and what to stop once the appliance is closed. */
export interface PointDrive {
  /** add_drive's filename: the qcow2 file, or the name of the NBD export. */
  readonly filename: string;
  /** add_drive's optional arguments (always readonly). */
  readonly opts: GuestfsOptArgs;
  /** The point's backup file, for messages. */
  readonly file: string;
  /** Read through a qemu-nbd (the chain is encrypted). */
  readonly throughNbd: boolean;
  /** The qemu-nbd's PID, when there is one. */
  readonly serverPid?: number;
  /** Stops the qemu-nbd and forgets it (nothing for a plain chain). Idempotent; after the appliance is closed. */
  close(): Promise<void>;
}

/** Where the qemu-nbd of an encrypted point is recorded. */
export interface DriveRecorder {
  readonly records: ProcessRecords;
  /** The run it is recorded under, asked only for an encrypted point (files and mount make one then). */
  runId(): Promise<string>;
}

const DIR_PREFIX = 'sendense-point-';
const EXPORT_NAME = 'point';
// libguestfs's qemu-img (the overlay it puts on top) and the appliance's qemu, one after the other; a KVM retry.
const CLIENTS = 4;

// For an encrypted chain the key is asked first: a missing or wrong one fails here, before anything starts.
export async function openPointDrive(file: string, recorder: DriveRecorder): Promise<PointDrive> {
  if (chainSecret(file) === undefined) {
    return { filename: file, opts: { readonly: 1, format: 'qcow2' }, file, throughNbd: false, close: async () => {} };
  }
  const runId = await recorder.runId();
  const dir = await makeSocketDir(DIR_PREFIX);
  let server: QemuNbd;
  try {
    await chmod(dir, 0o700);
    const socket = path.join(dir, 'nbd.sock');
    server = await startRecordedQemuNbd(recorder.records, runId, {
      file,
      format: 'qcow2',
      socket,
      exportName: EXPORT_NAME,
      shared: CLIENTS,
      readOnly: true,
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    // libguestfs names an NBD drive's export by its filename (guestfs(3), "NETWORK BLOCK DEVICE").
    filename: EXPORT_NAME,
    opts: { readonly: 1, format: 'raw', protocol: 'nbd', server: [`unix:${server.socket!}`] },
    file,
    throughNbd: true,
    serverPid: server.pid,
    close: () =>
      (closing ??= (async () => {
        await server.stop();
        await recorder.records.forgetProcess(server.pid);
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}
