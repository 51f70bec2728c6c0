// The steps of SPEC section 4, in order, in one place: the engine, --dry-run and the docs use these.

export const BACKUP_STEPS = [
  'resolve-chain',
  'allocate-ports',
  'create-qcow2',
  'start-qemu-nbd',
  'open-tunnel',
  'snapshot-source',
  'transfer',
  'record-change-ids',
  'cleanup',
  'retention',
] as const;

export const RESTORE_STEPS = [
  'resolve-point',
  'allocate-ports',
  'start-qemu-nbd',
  'open-tunnel',
  'prepare-target',
  'transfer',
  'verify',
  'place-target',
  'cleanup',
] as const;

// A file-level restore (target type files): SPEC section 11.
export const FILES_RESTORE_STEPS = ['resolve-point', 'extract-files'] as const;

export const VERIFY_STEPS = ['verify-backups'] as const;

export type BackupStepName = (typeof BACKUP_STEPS)[number];
export type RestoreStepName = (typeof RESTORE_STEPS)[number];
export type VerifyStepName = (typeof VERIFY_STEPS)[number];
export type StepName = BackupStepName | RestoreStepName | (typeof FILES_RESTORE_STEPS)[number] | VerifyStepName;
