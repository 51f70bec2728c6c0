// How the libguestfs appliance reads a point's file (docs/file-level-restore.md): through a
// read-only qemu-nbd on a Unix socket in a private (0700) directory, read by the appliance as a raw
// NBD drive. That qemu-nbd holds qemu's shared lock on every file of the chain, which a merge's
// write lock sees (docs/how-it-works.md#retention); libguestfs opens a drive with qemu's locking
// off, so a merge would not see it. A plain chain's qemu-nbd dies with us (nothing to record). An
// encrypted one's (a LUKS file anywhere in the chain) opens the chain with the repository's secret
// (qemu/image-opts.ts), which libguestfs cannot hand QEMU; it is recorded in the state database
// before it can outlive us (doctor stops a killed command's). Either is stopped, forgotten and its
// directory removed on close, whatever happened before.

import { chmod, rm } from 'node:fs/promises';
import path from 'node:path';
import { chainSecret } from '../qemu/image-opts.js';
import { startQemuNbd, type QemuNbd } from '../qemu/qemu-nbd.js';
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
  /** The chain is encrypted (its qemu-nbd is recorded). */
  readonly encrypted: boolean;
  /** The qemu-nbd's PID. */
  readonly serverPid: number;
  /** Stops the qemu-nbd and forgets it. Idempotent; after the appliance is closed. */
  close(): Promise<void>;
}

/** Where the qemu-nbd of an encrypted point is recorded. */
export interface DriveRecorder {
  readonly records: ProcessRecords;
  /** The run an encrypted point's qemu-nbd is recorded under (files and mount make one then). */
  runId(): Promise<string>;
}

const DIR_PREFIX = 'sendense-point-';
const EXPORT_NAME = 'point';
// libguestfs's qemu-img (the overlay it puts on top) and the appliance's qemu, one after the other; a KVM retry.
const CLIENTS = 4;

// For an encrypted chain the key is asked first: a missing or wrong one fails here, before anything starts.
export async function openPointDrive(file: string, recorder: DriveRecorder): Promise<PointDrive> {
  const encrypted = chainSecret(file) !== undefined;
  const runId = encrypted ? await recorder.runId() : undefined;
  const dir = await makeSocketDir(DIR_PREFIX);
  let server: QemuNbd;
  try {
    await chmod(dir, 0o700);
    const options = {
      file,
      format: 'qcow2' as const,
      socket: path.join(dir, 'nbd.sock'),
      exportName: EXPORT_NAME,
      shared: CLIENTS,
      readOnly: true,
    };
    server =
      runId === undefined
        ? await startQemuNbd({ ...options, diesWithUs: true })
        : await startRecordedQemuNbd(recorder.records, runId, options);
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
    encrypted,
    serverPid: server.pid,
    close: () =>
      (closing ??= (async () => {
        await server.stop();
        if (encrypted) await recorder.records.forgetProcess(server.pid);
        await rm(dir, { recursive: true, force: true });
      })()),
  };
}
