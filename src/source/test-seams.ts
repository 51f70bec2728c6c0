// Test seams for the crash-safety tests of libvirt backups and recoveries: SENDENSE_TEST_KILL_AT=guest-frozen
// makes the process kill -9 itself while the guest is frozen, as a power loss would stop it (and
// domain-started, copying, copies-ready: a recover run after the start, during the move, before the pivot;
// sync-written, sync-half-installed, fold-started: a replica's sync before installing, between two disks' installs, in a fold;
// fold-manifest-written: a fold with its folded manifest written, its layer not yet committed;
// keyring-written: a key command with the new keyring written but not yet in place;
// repository-made: a key add that made the repository (its keyring and marker), before it reports;
// marker-temp-written: a backup's first use of a repository, the marker's temp file written, not linked;
// copy-half-sent, copy-file-placed: a copy with half a file sent, with a file in place but not its manifest;
// copy-part-uploaded: an s3 copy with one part of a multipart upload in the store;
// bitmap-marking: a qemu source's new bitmap being marked, its scratch directory on the node made;
// vmware-snapshot-made: a vmware source's snapshot made, nothing read yet);
// SENDENSE_TEST_NO_THAW_WATCHDOG=1 leaves out the node's thaw watchdog, so a test can see doctor
// thaw a guest by itself. Unset in production.

export type SourceCrashPoint =
  | 'guest-frozen'
  | 'job-started'
  | 'domain-started'
  | 'copying'
  | 'copies-ready'
  | 'sync-written'
  | 'sync-half-installed'
  | 'fold-started'
  | 'fold-manifest-written'
  | 'keyring-written'
  | 'repository-made'
  | 'marker-temp-written'
  | 'copy-half-sent'
  | 'copy-file-placed'
  | 'copy-part-uploaded'
  | 'bitmap-marking'
  | 'vmware-snapshot-made';

export function sourceCrashPoint(point: SourceCrashPoint): void {
  if (process.env.SENDENSE_TEST_KILL_AT === point) process.kill(process.pid, 'SIGKILL');
}

export function thawWatchdogWanted(): boolean {
  return process.env.SENDENSE_TEST_NO_THAW_WATCHDOG !== '1';
}
