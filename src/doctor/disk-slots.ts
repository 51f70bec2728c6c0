// Hub disk slots (held or queued) of runs that are not alive: the next run would take them back anyway.

import type { Sweeper } from './sweeper.js';

export const diskSlotsSweeper: Sweeper = {
  name: 'disk slots',
  tables: ['disk_slots'],
  async sweep({ store, isLive, act }) {
    for (const slot of await store.listSlots()) {
      if (await isLive(slot.runId)) continue;
      const what = slot.granted > 0 ? `${slot.granted} disk slot(s) held` : 'a place in the disk queue';
      await act(`${what} by run ${slot.runId} of plan ${slot.plan} (pid ${slot.pid} gone)`, 'release it', () =>
        store.releaseSlots(slot.runId),
      );
    }
  },
};
