// Mounts `sendense-run mount` left behind when it was killed (its process gone): unmounted (lazily
// when their FUSE server died too), their server stopped, their record forgotten
// (docs/file-level-restore.md). Live mounts of this host are only reported; others' hosts are not reachable.

import { isMountPoint, unmountFuse } from '../files/fuse-mount.js';
import { isProcessAlive, terminateProcess } from '../process/index.js';
import type { FileMount, Store } from '../store/index.js';
import type { Sweeper } from './sweeper.js';

export const fileMountsSweeper: Sweeper = {
  name: 'file mounts',
  tables: ['file_mounts'],
  async sweep({ store, here, act, report }) {
    for (const mount of await store.listFileMounts()) {
      const what = `mount of VM ${mount.vm} backup ${mount.backupId} at ${mount.dir}`;
      if (mount.hostname !== here) {
        report(`${what} on ${mount.hostname}`, 'left alone (another host): run sendense-run doctor there');
        continue;
      }
      if (isProcessAlive(mount.ownerPid, mount.ownerStartTicks)) {
        report(`${what} (sendense-run mount pid ${mount.ownerPid} still running)`, 'left alone');
        continue;
      }
      await act(`${what} (its sendense-run mount, pid ${mount.ownerPid}, is gone)`, staleAction(mount), () =>
        unmountStale(store, mount),
      );
    }
  },
};

function staleAction(mount: FileMount): string {
  return isMountPoint(mount.dir) ? 'unmount it and stop its appliance' : 'stop its appliance and forget it';
}

async function unmountStale(store: Store, mount: FileMount): Promise<void> {
  const serverAlive = isProcessAlive(mount.serverPid, mount.serverStartTicks);
  await unmountFuse(mount.dir, { lazy: !serverAlive });
  // Unmounting ends the server's FUSE loop; it then sees its stdin closed and exits by itself.
  if (serverAlive) await terminateProcess(mount.serverPid, { startTicks: mount.serverStartTicks, timeoutMs: 15_000 });
  await store.forgetFileMount(mount.dir);
}
