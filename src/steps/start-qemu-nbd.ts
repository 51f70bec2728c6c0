// start-qemu-nbd: one qemu-nbd per disk on 127.0.0.1 and its leased port, accepting NBD before
// the next step; recorded by PID so doctor can find it if this process dies. When the run's disks
// take turns within its hub slots, only the first turn's start here: the others start when their
// turn comes (transfer, verify), so the hub's memory does not grow with the number of disks.

import { leasedDisks, type DiskServer, type Leased } from '../engine/run-context.js';
import { exportUrl } from '../engine/step-facts.js';
import type { Step } from '../engine/step.js';
import type { ServedDisk, ServingRun } from './serving-run.js';
import { SendenseError } from '../errors.js';
import { plural } from '../format/plural.js';
import type { QemuNbd } from '../qemu/index.js';
import { startRecordedQemuNbd, unaskedExitMessage } from '../qemu/recorded-qemu-nbd.js';
import { diskTurns, startServers } from '../transfer/run-transfer.js';

export interface ServeOptions {
  /** A restore reads the backup chain (read-only); a backup writes its new files. */
  readonly readOnly: boolean;
}

export const startQemuNbdServers = ({ readOnly }: ServeOptions): Step<ServingRun> => ({
  name: 'start-qemu-nbd',
  title: (run) => `serve ${served(run.state.disks).length} image(s) on 127.0.0.1 (qemu-nbd --shared=${run.plan.nbd.shared})`,
  // A file the node transfer writes itself needs no server (docs/how-it-works.md#a-local-full-backup).
  skip: (run) => (run.state.disks.length > 0 && served(run.state.disks).length === 0 ? 'qemu-img writes the new files on this host' : undefined),
  async run(run) {
    const disks = leasedDisks(served(run.state.disks));
    for (const disk of disks) disk.server = diskServer(run, disk, readOnly);
    const atOnce = diskTurns(run)?.parallelDisks ?? disks.length;
    await startServers(disks.slice(0, atOnce));
    const now = disks.slice(0, atOnce).map((disk) => `${disk.key}: 127.0.0.1:${disk.port}/${disk.exportName}`);
    const later = disks.length - atOnce;
    return later > 0 ? `${now.join(', ')}; ${plural(later, 'more disk')} when ${later === 1 ? 'its' : 'their'} turn comes (${atOnce} at once)` : now.join(', ');
  },
  facts: (run) => ({ disks: served(run.state.disks).map((disk) => ({ key: disk.key, url: exportUrl(disk) })) }),
  would(run) {
    if (!readOnly) return `qemu-nbd -f qcow2 --shared=${run.plan.nbd.shared} -b 127.0.0.1 on each leased port, one per disk (none for a file copied by qemu-img on this host)`;
    return `qemu-nbd -r (read-only) on ${run.state.disks.length > 0 ? run.state.disks.map((disk) => disk.file).join(', ') : 'the backup files'}`;
  },
});

// The qemu-nbd of one disk, started when asked (again after a stop: verify after the transfer).
function diskServer(run: ServingRun, disk: Leased<ServedDisk>, readOnly: boolean): DiskServer {
  let running: QemuNbd | undefined;
  let starting: Promise<boolean> | undefined;
  const start = async (): Promise<boolean> => {
    const server = await startRecordedQemuNbd(run.store, run.runId, {
      file: disk.file,
      format: 'qcow2',
      port: disk.port,
      exportName: disk.exportName,
      shared: run.plan.nbd.shared,
      readOnly,
      compress: !readOnly && disk.compress === true,
      // A new backup file is written through the page cache without qcow2's ordering flushes;
      // the run syncs it before it is recorded complete (docs/how-it-works.md#the-data-path).
      ...(readOnly ? {} : { cache: 'unsafe' as const }),
    });
    running = server;
    run.undo.push({
      what: `stop qemu-nbd (pid ${server.pid}) for disk ${disk.key}`,
      when: 'always',
      step: 'start-qemu-nbd',
      run: async () => {
        await server.stop();
        await run.store.forgetProcess(server.pid);
      },
    });
    // A target dying mid-run fails the run at once, with what qemu-nbd said.
    server.onExit((exit) => {
      if (running === server) running = undefined;
      if (exit.requested) return;
      run.abort(new SendenseError(unaskedExitMessage(exit, disk.key, disk.file), { disk: disk.key }));
    });
    return true;
  };
  return {
    start: () => {
      if (running !== undefined) return Promise.resolve(false);
      starting ??= start().finally(() => (starting = undefined));
      return starting;
    },
    stop: async () => {
      await starting?.catch(() => undefined);
      const server = running;
      running = undefined;
      if (server === undefined) return;
      await server.stop();
      await run.store.forgetProcess(server.pid);
    },
  };
}

// The disks a qemu-nbd serves: not those the node transfer writes itself on this host.
function served<D extends ServedDisk>(disks: readonly D[]): D[] {
  return disks.filter((disk) => disk.copiedHere !== true);
}
