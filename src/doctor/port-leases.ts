// NBD port leases held by runs that are not alive (the leasing process is gone).

import { isProcessAlive } from '../process/index.js';
import type { Sweeper } from './sweeper.js';

export const portLeasesSweeper: Sweeper = {
  name: 'port leases',
  tables: ['port_leases'],
  async sweep({ store, here, isLive, kept, act }) {
    for (const lease of await store.listLeases()) {
      if (kept.has(lease.runId) || (await isLive(lease.runId))) continue;
      if (lease.hostname === here && isProcessAlive(lease.pid)) continue;
      await act(`port ${lease.port} leased by run ${lease.runId} (pid ${lease.pid} gone)`, 'release it', () =>
        store.releasePort(lease.port),
      );
    }
  },
};
