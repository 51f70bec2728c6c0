// VM locks of runs that are not alive: the next backup of that VM would take them over anyway.

import type { Sweeper } from './sweeper.js';

export const vmLocksSweeper: Sweeper = {
  name: 'VM locks',
  tables: ['vm_locks'],
  async sweep({ store, isLive, act }) {
    for (const lock of await store.listVmLocks()) {
      if (await isLive(lock.runId)) continue;
      await act(`lock of VM ${lock.vm} held by run ${lock.runId} (pid ${lock.pid} gone)`, 'release it', () =>
        store.unlockVm(lock.vm, lock.runId),
      );
    }
  },
};
