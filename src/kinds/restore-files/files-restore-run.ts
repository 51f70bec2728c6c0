// A file-level restore (target type files): which backup file its resolve-point chose.

import type { Resolved, RunContext } from '../../engine/run-context.js';
import type { PointFile } from '../../files/backup-point.js';
import type { FilesRestorePlan } from '../../plan/types.js';

/** A file-level restore run (target type files): which backup file, then the extraction. */
export interface FilesRestoreRun extends RunContext<FilesRestorePlan>, Resolved<FilesRestoreState> {}

/** What the files restore's resolve-point decided: the one backup file whose files are read. */
export interface FilesRestoreState {
  readonly backupId: string;
  readonly point: PointFile;
}
