// The names of every migration in index.ts, in the order they apply: opening a database checks its
// applied migrations against this list without loading the migrations themselves. A test keeps the
// two lists equal (test/store/migration-names.test.ts).
export const MIGRATION_NAMES: readonly string[] = Object.freeze([
  '001-initial',
  '002-vm-locks',
  '003-run-files',
  '004-file-mounts',
  '005-verification',
  '006-backup-order',
  '007-merges',
  '008-hub-slots',
  '009-many-hubs',
  '010-manifest-facts',
  '011-node-resources',
  '012-replica-points',
  '013-run-bytes',
  '014-run-record',
  '015-protected-points',
  '016-api',
  '017-vm-wait',
  '018-checkpoint-records',
  '019-replica-point-order',
  '020-api-task-process',
  '021-repository-numbers',
  '022-refused-runs',
  '023-change-samples',
  '024-suspect-points',
]);
