// Every migration, listed in code (not a folder scan) so the store works from dist/ and bundles.
// Add a new one as NNN-name.ts and list it here and in names.ts; names sort in the order they apply.

import type { Migration, MigrationProvider } from 'kysely';
import { initialMigration } from './001-initial.js';
import { vmLocksMigration } from './002-vm-locks.js';
import { runFilesMigration } from './003-run-files.js';
import { fileMountsMigration } from './004-file-mounts.js';
import { verificationMigration } from './005-verification.js';
import { backupOrderMigration } from './006-backup-order.js';
import { mergesMigration } from './007-merges.js';
import { hubSlotsMigration } from './008-hub-slots.js';
import { manyHubsMigration } from './009-many-hubs.js';
import { manifestFactsMigration } from './010-manifest-facts.js';
import { nodeResourcesMigration } from './011-node-resources.js';
import { replicaPointsMigration } from './012-replica-points.js';
import { runBytesMigration } from './013-run-bytes.js';
import { runRecordMigration } from './014-run-record.js';
import { protectedPointsMigration } from './015-protected-points.js';
import { apiMigration } from './016-api.js';
import { vmWaitMigration } from './017-vm-wait.js';
import { checkpointRecordsMigration } from './018-checkpoint-records.js';
import { replicaPointOrderMigration } from './019-replica-point-order.js';
import { apiTaskProcessMigration } from './020-api-task-process.js';
import { repositoryNumbersMigration } from './021-repository-numbers.js';
import { refusedRunsMigration } from './022-refused-runs.js';
import { changeSamplesMigration } from './023-change-samples.js';
import { suspectPointsMigration } from './024-suspect-points.js';
import { drillsMigration } from './025-drills.js';
import { layerFactsMigration } from './026-layer-facts.js';
import { acknowledgedRunsMigration } from './028-acknowledged-runs.js';

const migrations: Readonly<Record<string, Migration>> = Object.freeze({
  '001-initial': initialMigration,
  '002-vm-locks': vmLocksMigration,
  '003-run-files': runFilesMigration,
  '004-file-mounts': fileMountsMigration,
  '005-verification': verificationMigration,
  '006-backup-order': backupOrderMigration,
  '007-merges': mergesMigration,
  '008-hub-slots': hubSlotsMigration,
  '009-many-hubs': manyHubsMigration,
  '010-manifest-facts': manifestFactsMigration,
  '011-node-resources': nodeResourcesMigration,
  '012-replica-points': replicaPointsMigration,
  '013-run-bytes': runBytesMigration,
  '014-run-record': runRecordMigration,
  '015-protected-points': protectedPointsMigration,
  '016-api': apiMigration,
  '017-vm-wait': vmWaitMigration,
  '018-checkpoint-records': checkpointRecordsMigration,
  '019-replica-point-order': replicaPointOrderMigration,
  '020-api-task-process': apiTaskProcessMigration,
  '021-repository-numbers': repositoryNumbersMigration,
  '022-refused-runs': refusedRunsMigration,
  '023-change-samples': changeSamplesMigration,
  '024-suspect-points': suspectPointsMigration,
  '025-drills': drillsMigration,
  '026-layer-facts': layerFactsMigration,
  '028-acknowledged-runs': acknowledgedRunsMigration,
});

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
