// restore plans with a files target (docs/file-level-restore.md): one point's disk read through a
// libguestfs appliance on this host, the chosen files extracted; no NBD, no tunnel.

import { unresolvedRun } from '../../engine/run-context.js';
import type { Step } from '../../engine/step.js';
import type { KindModule } from '../kind.js';
import { extractFiles } from './extract-files.js';
import type { FilesRestoreRun, FilesRestoreState } from './files-restore-run.js';
import { resolveFilesPoint } from './resolve-files-point.js';

export const filesRestoreSteps: readonly Step<FilesRestoreRun>[] = [resolveFilesPoint, extractFiles];

export const filesRestoreKind: KindModule<FilesRestoreRun> = {
  steps: filesRestoreSteps,
  afterSteps: [],
  async open(base) {
    return unresolvedRun<FilesRestoreRun, FilesRestoreState>({ ...base } as FilesRestoreRun, 'resolve-point');
  },
  endFacts(run) {
    return run.resolved ? { backupId: run.state.backupId } : {};
  },
  async disksToTransfer() {
    return 0;
  },
};
