// One point's disk opened for file-level work: the backup file found through the store, the
// appliance started on it, its filesystems read. The caller closes it (the appliance stops).

import { SendenseError } from '../errors.js';
import type { DiskKey, RestorePoint } from '../plan/types.js';
import type { Store } from '../store/index.js';
import { openAppliance } from './appliance.js';
import { findPointFile, type PointFile } from './backup-point.js';
import { readDiskLayout, readable } from './filesystems.js';
import { GuestFiles } from './guest-files.js';

export interface OpenPoint {
  readonly point: PointFile;
  readonly files: GuestFiles;
  close(): Promise<void>;
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
}

export async function openPoint(store: Store, request: OpenPointRequest): Promise<OpenPoint> {
  const point = await findPointFile(store, request.vm, request.point, request.disk, request.repository);
  request.note?.(`opening ${point.where} (${point.disk.file})`);
  const { agent } = await openAppliance(point.disk.file, { note: request.note });
  try {
    const layout = await readDiskLayout(agent, { inspect: request.inspect });
    if (!layout.filesystems.some(readable)) {
      throw new SendenseError(`${point.where} has no filesystem that can be read (partition table: ${layout.partitionTable})`);
    }
    return { point, files: new GuestFiles(agent, layout, point.where), close: () => agent.close(), kill: () => agent.kill() };
  } catch (error) {
    await agent.close();
    throw error;
  }
}
