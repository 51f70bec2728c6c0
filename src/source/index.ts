// The backup source of a plan (docs/how-it-works.md#change-tracking-by-source), chosen once by its type: steps use what this
// returns and never ask which source they read.

import type { Source } from '../plan/types.js';
import type { BackupSource } from './backup-source.js';
import { openBackupSource } from './source-types.js';

export function backupSource(source: Source): BackupSource {
  return openBackupSource(source);
}

export type {
  BackupSource,
  SnapshotContext,
  SnapshotResult,
  SourceDiskJob,
  SourceChangeTracking,
  SourceFacets,
  SourceInspection,
  SourceInspectionResult,
  SourceReads,
  SourceSnapshot,
  SupersededBitmap,
  TransferAdoption,
} from './backup-source.js';
export type { TransferProgram, TransferReads } from '../transfer/transfer-plan.js';
export type { DiskSource, SourceDiskFacts, SourceType } from './source-disk.js';
export { ownBitmap } from './qemu-source.js';
export { ChainRefusedAtSnapshot } from './backup-source.js';
export {
  isLibvirtDomainSource,
  loadSourceType,
  registerSourceType,
  sourceCan,
  sourceDefinitionOf,
  sourceDefinitions,
} from './source-types.js';
export type { SourceDefinition } from './source-definition.js';
