// One point's disk opened for file-level work: the backup file found through the store, the
// appliance started on it (an encrypted one through a recorded qemu-nbd, ./point-drive.ts), its
// filesystems read. The caller closes it (the appliance stops, then that qemu-nbd).

import { isSendenseError, SendenseError } from '../errors.js';
import type { DiskKey, RestorePoint } from '../plan/types.js';
import type { Store } from '../store/index.js';
import { openAppliance } from './appliance.js';
import { findPointFile, type PointFile } from './backup-point.js';
import { readDiskLayout, readable } from './filesystems.js';
import { GuestFiles } from './guest-files.js';
import { openPointDrive, type DriveRecorder, type PointDrive } from './point-drive.js';

export interface OpenPoint {
  readonly point: PointFile;
  readonly files: GuestFiles;
  /** The appliance stops, then the qemu-nbd of an encrypted point; `failure`: what ended the command, for its run. */
  close(failure?: unknown): Promise<void>;
  /** Ends the appliance now (an interrupted command); pending calls fail. */
  kill(): void;
}

export interface OpenPointRequest {
  readonly vm: string;
  readonly point: RestorePoint;
  readonly disk?: DiskKey;
  readonly repository?: string;
  /** Also find the operating system of each root filesystem (for the filesystem listing). */
  readonly inspect?: boolean;
  /** One line for the user each (what is being started, the emulation fallback). */
  readonly note?: (line: string) => void;
  /** The command, the run an encrypted point's qemu-nbd is recorded under (default files). */
  readonly command?: 'files' | 'mount';
}

export async function openPoint(store: Store, request: OpenPointRequest): Promise<OpenPoint> {
  const point = await findPointFile(store, request.vm, request.point, request.disk, request.repository);
  const run = commandRun(store, request.command ?? 'files');
  let drive: PointDrive | undefined;
  try {
    // An encrypted point's key is asked here, before anything starts.
    drive = await openPointDrive(point.disk.file, run.recorder);
    request.note?.(
      `opening ${point.where} (${point.disk.file}${drive.encrypted ? ', encrypted: read through a read-only qemu-nbd' : ''})`,
    );
    const { agent } = await openAppliance(drive, { note: request.note });
    const opened = drive;
    const close = async (failure?: unknown) => {
      try {
        await agent.close();
        await opened.close();
      } finally {
        await run.finish(failure);
      }
    };
    try {
      const layout = await readDiskLayout(agent, { inspect: request.inspect });
      if (!layout.filesystems.some(readable)) {
        throw new SendenseError(
          `${point.where} has no filesystem that can be read (partition table: ${layout.partitionTable})`,
        );
      }
      return { point, files: new GuestFiles(agent, layout, point.where), close, kill: () => agent.kill() };
    } catch (error) {
      await close(error);
      throw error;
    }
  } catch (error) {
    if (drive !== undefined) await drive.close();
    await run.finish(error);
    throw error;
  }
}

// The run an encrypted point's qemu-nbd is recorded under: made when the drive first asks for it
// (a plain point records none), ended when the command closes the point.
function commandRun(
  store: Store,
  command: 'files' | 'mount',
): { readonly recorder: DriveRecorder; finish(failure?: unknown): Promise<void> } {
  let created: Promise<string> | undefined;
  let finished = false;
  return {
    recorder: {
      records: store,
      runId: () =>
        (created ??= store.createRun({ plan: command, kind: command, trigger: 'manual' }).then((run) => run.id)),
    },
    async finish(failure) {
      if (created === undefined || finished) return;
      finished = true;
      const id = await created.catch(() => undefined);
      if (id === undefined) return;
      if (failure === undefined) await store.finishRun(id, 'succeeded');
      else
        await store.finishRun(
          id,
          isSendenseError(failure) && failure.exitCode === 130 ? 'interrupted' : 'failed',
          failure instanceof Error ? failure.message : String(failure),
        );
    },
  };
}
