// The repository marker's temp files (`.sendense-repository.<pid>-<hex>.tmp`): a backup's first use
// of a repository killed between writing the marker's temp file and linking it into place leaves
// one. A dead run's of this host goes at once (its PID is the run's); any other only when its
// writer is gone and it is a minute old, as a run on the repository removes it
// (src/repository/marker.ts): a writer of another hub may have a PID this host does not know.

import { rm } from 'node:fs/promises';
import { MARKER_TEMP_MIN_AGE_MS, orphanMarkerTemps } from '../repository/marker.js';
import type { Sweeper } from './sweeper.js';

export const markerTempsSweeper: Sweeper = {
  name: 'repository marker temp files',
  tables: [],
  async sweep({ store, deadRuns, act }) {
    const deadWriters = new Map(
      [...deadRuns.values()].filter((run) => run.pid !== null).map((run) => [run.pid!, run.id]),
    );
    const repositories = new Set((await store.listBackups()).map((backup) => backup.repository));
    for (const repository of [...repositories].sort()) {
      for (const temp of await orphanMarkerTemps(repository)) {
        const run = deadWriters.get(temp.writer);
        if (run === undefined && temp.ageMs < MARKER_TEMP_MIN_AGE_MS) continue;
        const whose =
          run === undefined ? `its writer, pid ${temp.writer}, is gone` : `run ${run}, killed before it was in place`;
        await act(`unfinished repository marker ${temp.file} (${whose})`, 'delete it', () =>
          rm(temp.file, { force: true }),
        );
      }
    }
  },
};
