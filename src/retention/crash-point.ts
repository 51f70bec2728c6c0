// Test seam for the crash-safety tests of merges: SENDENSE_TEST_KILL_MERGE_AT=<point> makes the
// process kill -9 itself there, exactly as a power loss would stop it. Unset in production.

export type MergeCrashPoint = 'planned' | 'prepared' | 'copy' | 'copied' | 'renamed' | 'files-done';

export function crashPoint(point: MergeCrashPoint): void {
  if (process.env.SENDENSE_TEST_KILL_MERGE_AT === point) process.kill(process.pid, 'SIGKILL');
}
