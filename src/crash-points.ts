// Crash points (docs/testing.md#crash-points): the named moments where the crash tests stop this
// process as a power loss would, to prove that doctor and the next run recover from exactly there.
// SENDENSE_TEST_KILL_AT=NAME makes the process kill -9 itself on reaching NAME;
// SENDENSE_TEST_STOP_AT=NAME stops it there once (SIGSTOP) until the test sends SIGCONT. Both are
// unset in production, where a crash point is one look at the environment.

/** Every crash point, `area.moment`, with the moment it stands for. */
export const CRASH_POINTS = {
  'libvirt.guest-frozen': 'a libvirt source: the guest frozen, the backup job not yet begun',
  'libvirt.job-started': 'a libvirt source: the backup job begun, its exports not yet checked',
  'qemu.bitmap-marking': 'a qemu source: the new bitmap being marked, its scratch directory on the node made',
  'vmware.snapshot-recorded': 'a vmware source: its snapshot recorded in the state database, not yet asked for',
  'vmware.snapshot-asked': 'a vmware source: its snapshot task started and recorded, not yet ended',
  'vmware.snapshot-made': "a vmware source: the VM's snapshot made, nothing read yet",
  'vmware.areas-listed': "a vmware source: the first disk's read list written on the node, the others not",
  'vmware.snapshot-removed': "a vmware source's cleanup: its snapshot removed, its record not yet forgotten",
  'run.taken-again': "a run taken again: the first attempt given back, the VM's lock kept",
  'recover.domain-started': 'a recovery: the domain started, its storage not yet moved',
  'recover.copying': 'a recovery: the storage move under way',
  'recover.copies-ready': 'a recovery: every disk copied and in step, none pivoted yet',
  'drill.network-made': 'a drill: its isolated bridge and namespace made, no directory or domain yet',
  'drill.dir-made': 'a drill: its directory made on the node, no overlay or domain yet',
  'drill.domain-started': 'a drill: its domain started, no check run yet',
  'replica.sync-written': "a sync: every disk's layer and digests written, none installed",
  'replica.sync-half-installed': 'a sync: the first disk installed, the others not',
  'replica.fold-started': 'a fold of the oldest replica point: marked folding, nothing folded',
  'replica.fold-manifest-written': 'a fold: the folded manifest written, its layer not yet committed',
  'failback.standby-stopped': 'a failback: the standby shut off, nothing copied',
  'failback.disk-copied': "a failback: the first disk copied onto the original's, the others not",
  'failback.copied': 'a failback: every disk copied, the original not started',
  'failback.original-started': 'a failback: the original started, the failover not yet forgotten',
  'key.keyring-written': 'a key command: the new keyring written beside the old, not yet in place',
  'key.repository-made': 'a key add: the repository made (its keyring and marker), not yet reported',
  'repository.marker-temp-written': "a repository's first use: the marker's temp file written, not linked",
  'merge.planned': 'a merge: its intent recorded, nothing prepared',
  'merge.prepared': 'a merge: its copies prepared, no file changed',
  'merge.copy': "a merge: the first range copied into the child's file",
  'merge.copied': "a merge: every range copied, the parent's file not yet renamed over the child's",
  'merge.renamed': "a merge: the parent's file renamed into the child's place",
  'merge.files-done': 'a merge: every disk done, the point not yet dropped from the state database',
  'restore.files-placed': 'a restore to a new domain: its files renamed into place, no domain defined yet',
  'restore.domain-defined': 'a restore to a new domain: the domain defined on its files, not started',
  'prune.removed': "a point's removal: its disks' files deleted, its domain definition file not yet",
  'copy.half-sent': 'a copy: half of a file sent',
  'copy.file-placed': 'a copy: a file in place, its manifest not yet',
  'copy.part-uploaded': 'an s3 copy: one part of a multipart upload in the store',
  'copy.merge-planned': 'a merge on a copy: its journal placed, nothing folded',
  'copy.merge-disk': 'a merge on a copy: one disk of two folded',
  'copy.merge-file': "a merge in a bucket: the first disk's merged file put, its manifest not yet",
} as const;

export type CrashPoint = keyof typeof CRASH_POINTS;

export const KILL_AT = 'SENDENSE_TEST_KILL_AT';
export const STOP_AT = 'SENDENSE_TEST_STOP_AT';

/** Where a crash test may stop this process: kill -9 or SIGSTOP when its environment names `point`. */
export function crashPoint(point: CrashPoint): void {
  if (process.env[KILL_AT] === point) process.kill(process.pid, 'SIGKILL');
  if (process.env[STOP_AT] === point) {
    delete process.env[STOP_AT];
    process.kill(process.pid, 'SIGSTOP');
  }
}

/** The environment of a run that kills itself at `point` (for the tests). */
export function killAtEnv(point: CrashPoint): Readonly<Record<string, string>> {
  return { [KILL_AT]: point };
}

/** The environment of a run that stops itself once at `point` (for the tests). */
export function stopAtEnv(point: CrashPoint): Readonly<Record<string, string>> {
  return { [STOP_AT]: point };
}

// SENDENSE_TEST_NO_THAW_WATCHDOG=1 leaves out the node's thaw watchdog (../source/thaw-watchdog.ts),
// so a test killed at libvirt.guest-frozen sees doctor thaw the guest by itself.
export const NO_THAW_WATCHDOG = 'SENDENSE_TEST_NO_THAW_WATCHDOG';

export function thawWatchdogWanted(): boolean {
  return process.env[NO_THAW_WATCHDOG] !== '1';
}
