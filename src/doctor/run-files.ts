// Files a dead run was writing outside the repository (a restore target before its rename), or
// deleting in it (a removed point's, its record already gone): deleted here, forgotten with the
// command to delete them on a remote node.

import { rm } from 'node:fs/promises';
import type { Sweeper } from './sweeper.js';

export const runFilesSweeper: Sweeper = {
  name: 'run files',
  tables: ['run_files'],
  async sweep({ store, local, isLive, act }) {
    for (const file of await store.allRunFiles()) {
      if (await isLive(file.runId)) continue;
      if (file.node !== local.id) {
        await act(
          `unfinished ${file.kind} ${file.path} on ${file.node} (run ${file.runId})`,
          `forget it (remote node: remove it there with rm -f -- ${file.path})`,
          () => store.forgetRunFile(file.node, file.path),
        );
        continue;
      }
      await act(`unfinished ${file.kind} ${file.path} (run ${file.runId})`, 'delete it', async () => {
        await rm(file.path, { force: true });
        await store.forgetRunFile(file.node, file.path);
      });
    }
  },
};
