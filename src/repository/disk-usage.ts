// Space used on disk (allocated blocks, as `du` counts them, not the apparent size of a sparse
// qcow2): of one file, or of a whole repository directory.

import { lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';

// Null when the file is not there (or not readable).
export function fileDiskUsage(file: string): number | null {
  try {
    // A missing file answers undefined rather than throwing: listings of many points stay cheap.
    const stats = lstatSync(file, { throwIfNoEntry: false });
    return stats === undefined ? null : stats.blocks * 512;
  } catch {
    return null;
  }
}

// Every file under dir; null when dir cannot be read.
export function directoryDiskUsage(dir: string): number | null {
  let names: string[];
  try {
    names = readdirSync(dir, { recursive: true }) as string[];
  } catch {
    return null;
  }
  return names.reduce((total, name) => total + (fileDiskUsage(path.join(dir, name)) ?? 0), 0);
}
