// The backup source of a plan (docs/how-it-works.md#change-tracking-by-source), chosen once by its type: steps use what this
// returns and never ask which source they read.

import type { Source } from '../plan/types.js';
import type { BackupSource } from './backup-source.js';
import { nbdSource } from './nbd-source.js';
import { qemuSource } from './qemu-source.js';
import { vmwareSource } from './vmware-source.js';
import { libvirtSource } from './libvirt-source.js';

const SOURCES: { readonly [T in Source['type']]: (source: Extract<Source, { type: T }>) => BackupSource } = {
  qemu: qemuSource,
  nbd: nbdSource,
  vmware: vmwareSource,
  libvirt: libvirtSource,
};

export function backupSource(source: Source): BackupSource {
  return (SOURCES[source.type] as (source: Source) => BackupSource)(source);
}

export type {
  BackupSource,
  SnapshotContext,
  SnapshotResult,
  SourceDiskJob,
  SourceInspection,
  SupersededBitmap,
  TransferAdoption,
} from './backup-source.js';
export type { TransferProgram, TransferReads } from '../transfer/transfer-plan.js';
export type { DiskSource, SourceDiskFacts, SourceType } from './source-disk.js';
export { ownBitmap } from './qemu-source.js';
export { ChainRefusedAtSnapshot } from './backup-source.js';
