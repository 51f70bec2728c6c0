// The FIFO folders of browse sessions (the API's files routes, files sessions) whose process was
// killed: `sendense-browse-<pid>-…` in the temp directory, found by the owner tag inside
// (docs/file-level-restore.md#where-a-download-passes). Only this state database's, only when
// that process is gone.

import { rm } from 'node:fs/promises';
import { deadBrowseDirs } from '../files/browse-dir.js';
import type { Sweeper } from './sweeper.js';

export const browseFoldersSweeper: Sweeper = {
  name: 'browse folders',
  tables: [],
  async sweep({ stateDatabase, act }) {
    for (const dead of deadBrowseDirs(stateDatabase)) {
      await act(`files browse folder ${dead.dir} (its process, pid ${dead.ownerPid}, is gone)`, 'remove it', () =>
        rm(dead.dir, { recursive: true, force: true }),
      );
    }
  },
};
