// start-qemu-nbd: one qemu-nbd per disk on 127.0.0.1 and its leased port, accepting NBD before
// the next step; recorded by PID so doctor can find it if this process dies. When our node
// transfer is its only client, each listens on a Unix socket in a private directory instead (the
// transfer connects there on this host, the tunnel from a node): over loopback TCP qemu-nbd's
// small replies wait on its client's delayed ACKs, ~40 ms at a time
// (docs/how-it-works.md#the-data-path). When the run's disks
// take turns within its hub slots, only the first turn's start here: the others start when their
// turn comes (transfer, verify), so the hub's memory does not grow with the number of disks.

import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { leasedDisks, type DiskServer, type Leased } from '../engine/run-context.js';
import { exportUrl } from '../engine/step-facts.js';
import type { Step } from '../engine/step.js';
import type { ServedDisk, ServingRun } from './serving-run.js';
import { SendenseError } from '../errors.js';
import { plural } from '../format/plural.js';
import type { QemuNbd } from '../qemu/index.js';
import { startRecordedQemuNbd, unaskedExitMessage } from '../qemu/recorded-qemu-nbd.js';
import { makeSocketDir, SERVE_SOCKET_DIR_PREFIX, socketDirTemplate } from '../qemu/socket-dir.js';
import { diskTurns, startServers } from '../transfer/run-transfer.js';

export interface ServeOptions {
  /** A restore reads the backup chain (read-only); a backup writes its new files. */
  readonly readOnly: boolean;
  /** The node transfer (through the tunnel from a node) is the only client: Unix sockets. */
  readonly transferOnly?: boolean;
  /** Unix sockets whatever the client, never a port (a recovered domain's QEMU, docs/instant-recovery.md#who-can-open-the-served-point). */
  readonly socketsOnly?: boolean;
}

export const startQemuNbdServers = ({ readOnly, ...clients }: ServeOptions): Step<ServingRun> => ({
  name: 'start-qemu-nbd',
  title: (run) =>
    `serve ${served(run.state.disks).length} image(s) on ${onSockets(run, clients) ? 'Unix sockets' : '127.0.0.1'} (qemu-nbd --shared=${run.plan.nbd.shared})`,
  // A file the node transfer writes itself needs no server (docs/how-it-works.md#a-local-full-backup).
  skip: (run) =>
    run.state.disks.length > 0 && served(run.state.disks).length === 0
      ? 'qemu-img writes the new files on this host'
      : undefined,
  async run(run) {
    const disks = leasedDisks(served(run.state.disks));
    if (onSockets(run, clients)) {
      const tooLong = disks.find(
        (disk) => socketPath(socketDirTemplate(SERVE_SOCKET_DIR_PREFIX), disk.key).length > MAX_SOCKET_PATH,
      );
      if (tooLong !== undefined)
        throw new SendenseError(
          `TMPDIR ${tmpdir()} is too long for a Unix socket path (at most ${MAX_SOCKET_PATH} bytes): set a shorter one`,
          { step: 'start-qemu-nbd', disk: tooLong.key },
        );
      const dir = await makeSocketDir(SERVE_SOCKET_DIR_PREFIX, { sweepDeadSockets: true });
      // Pushed first, so undone after every server's stop (each removes its socket).
      run.undo.push({
        what: `remove ${dir}`,
        when: 'always',
        step: 'start-qemu-nbd',
        run: () => rm(dir, { recursive: true, force: true }),
      });
      for (const disk of disks) disk.socket = socketPath(dir, disk.key);
    }
    for (const disk of disks) disk.server = diskServer(run, disk, readOnly);
    const atOnce = diskTurns(run)?.parallelDisks ?? disks.length;
    await startServers(disks.slice(0, atOnce));
    const now = disks
      .slice(0, atOnce)
      .map(
        (disk) =>
          `${disk.key}: ${disk.socket === undefined ? `127.0.0.1:${disk.port}/${disk.exportName}` : `${disk.socket} (${disk.exportName})`}`,
      );
    const later = disks.length - atOnce;
    return later > 0
      ? `${now.join(', ')}; ${plural(later, 'more disk')} when ${later === 1 ? 'its' : 'their'} turn comes (${atOnce} at once)`
      : now.join(', ');
  },
  facts: (run) => ({ disks: served(run.state.disks).map((disk) => ({ key: disk.key, url: exportUrl(disk) })) }),
  would(run) {
    const where = onSockets(run, clients)
      ? `on a Unix socket in a private directory${run.node.isLocal ? '' : ', reached from a Unix socket in a private directory on the node'}`
      : '-b 127.0.0.1 on each leased port';
    if (!readOnly)
      return `qemu-nbd -f qcow2 --shared=${run.plan.nbd.shared} ${where}, one per disk (none for a file copied by qemu-img on this host)`;
    const files = run.state.disks.length > 0 ? run.state.disks.map((disk) => disk.file).join(', ') : 'the backup files';
    return `qemu-nbd -r (read-only) on ${files}${onSockets(run, clients) ? `, each ${where}` : ''}`;
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
      ...(disk.socket !== undefined ? { socket: disk.socket } : { port: disk.port }),
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

// The node transfer the only client: Unix sockets. Not the VMware client on this host (it takes
// NBD URLs with ports; from a node it reaches the tunnel's port), nor a socket path too long for
// one (a deep TMPDIR). socketsOnly: always (start-qemu-nbd refuses a path too long).
function onSockets(
  run: ServingRun,
  { transferOnly = false, socketsOnly = false }: Omit<ServeOptions, 'readOnly'>,
): boolean {
  if (socketsOnly) return true;
  if (!transferOnly || (run.node.isLocal && run.wholeVm === true)) return false;
  const longest = Math.max(
    0,
    ...run.state.disks.map((disk) => socketPath(socketDirTemplate(SERVE_SOCKET_DIR_PREFIX), disk.key).length),
  );
  return longest <= MAX_SOCKET_PATH;
}

// sun_path holds 108 bytes with the terminating NUL.
const MAX_SOCKET_PATH = 107;

const socketPath = (dir: string, key: number): string => path.join(dir, `disk-${key}.sock`);

// The disks a qemu-nbd serves: not those the node transfer writes itself on this host.
function served<D extends ServedDisk>(disks: readonly D[]): D[] {
  return disks.filter((disk) => disk.copiedHere !== true);
}
