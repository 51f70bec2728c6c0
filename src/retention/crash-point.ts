// Test seams for the crash-safety tests of merges: SENDENSE_TEST_KILL_MERGE_AT=<point> makes the
// process kill -9 itself there, exactly as a power loss would stop it; SENDENSE_TEST_STOP_MERGE_AT
// stops it there once (SIGSTOP) until the test sends SIGCONT, e.g. after taking the database away.
// Unset in production.

// removed: a point's removal (the newest of an older chain), its files deleted, the rest not yet.
// copy-merge-planned, copy-merge-disk: a merge on a copy written down, and with one disk of two
// done; copy-merge-file: in a bucket, the first disk's merged file put, its manifest not yet.
export type MergeCrashPoint =
  | 'planned'
  | 'prepared'
  | 'copy'
  | 'copied'
  | 'renamed'
  | 'files-done'
  | 'removed'
  | 'copy-merge-planned'
  | 'copy-merge-disk'
  | 'copy-merge-file';

export function crashPoint(point: MergeCrashPoint): void {
  if (process.env.SENDENSE_TEST_KILL_MERGE_AT === point) process.kill(process.pid, 'SIGKILL');
  if (process.env.SENDENSE_TEST_STOP_MERGE_AT === point) {
    delete process.env.SENDENSE_TEST_STOP_MERGE_AT;
    process.kill(process.pid, 'SIGSTOP');
  }
}
