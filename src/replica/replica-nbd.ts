// A sync's target on the replica node (docs/replication.md#the-data-path): one writable qemu-nbd per
// disk on a Unix socket in the sync's own 0700 directory there, under a lifeline shell that stops it
// when our end of the channel closes (the hub killed, the SSH link lost), so none outlives the run;
// and on the hub, a listener on a Unix socket in a private directory that relays each connection to
// that socket through the replica node's link (never a TCP port another local user could open). The
// source node reaches the listener through its own tunnel: the blocks pass through the hub's memory,
// never its disks.

import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SendenseError } from '../errors.js';
import type { NodeHost, NodeProcess } from '../node/node.js';
import { qemuNbdArgv } from '../qemu/qemu-nbd.js';

// qemu-nbd in the background, its PID told on stderr, stopped when stdin reaches its end (kept on fd 3:
// a background list's own stdin is /dev/null).
const LIFELINE =
  'exec 3<&0; q=; trap \'[ -n "$q" ] && kill "$q" 2>/dev/null\' EXIT; "$@" 3<&- & q=$!; echo "sendense-child $q" >&2; (cat <&3 >/dev/null; kill "$q" 2>/dev/null) & exec 3<&-; wait "$q"';

const READY_TIMEOUT_MS = 15_000;

export interface ReplicaNbd {
  readonly socket: string;
  readonly exportName: string;
  /** qemu-nbd's PID on the replica node, once told. */
  pid(): number | undefined;
  /** Resolves when it ends, asked or not. */
  readonly exited: Promise<{ readonly requested: boolean; readonly said: string }>;
  stop(): Promise<void>;
}

export async function startReplicaNbd(
  node: NodeHost,
  options: {
    readonly layer: string;
    readonly socket: string;
    readonly exportName: string;
    readonly shared: number;
    readonly readOnly?: boolean;
    /** Default qcow2 (a layer); a failback's original disk may be raw. */
    readonly format?: 'qcow2' | 'raw';
  },
): Promise<ReplicaNbd> {
  // Never --persistent's opposite: the node transfer connects several times. Read-only: a check of a point's layer (replica-layer.ts).
  const readOnly = options.readOnly === true;
  const argv = qemuNbdArgv({
    file: options.layer,
    format: options.format ?? 'qcow2',
    socket: options.socket,
    exportName: options.exportName,
    shared: options.shared,
    readOnly,
    ...(readOnly ? {} : { discard: 'unmap' as const }),
  });
  const child: NodeProcess = node.spawn(['sh', '-c', LIFELINE, 'sh', ...argv]);
  let requested = false;
  const exited = child.exited.then(() => Object.freeze({ requested, said: oneLine(child.stderrText()) }));
  const stop = async (): Promise<void> => {
    requested = true;
    await child.stop();
  };
  const server: ReplicaNbd = {
    socket: options.socket,
    exportName: options.exportName,
    pid: () => {
      const match = /sendense-child (\d+)/.exec(child.stderrText());
      return match ? Number(match[1]) : undefined;
    },
    exited,
    stop,
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let gone = false;
  void exited.then(() => (gone = true));
  while (!(await answers(node, options.socket))) {
    if (gone || Date.now() > deadline) {
      await stop();
      const said = (await exited).said;
      throw new SendenseError(
        `qemu-nbd for ${options.layer} on ${node.description} ${gone ? 'exited' : 'did not answer within 15 s'}${said ? `: ${said}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return server;
}

// An NBD greeting ("NBDMAGIC") on the socket, through the node's link; closing before negotiating does not count as a client.
async function answers(node: NodeHost, socket: string): Promise<boolean> {
  let stream: Duplex;
  try {
    stream = await node.connectUnixSocket(socket);
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      stream.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), 2000);
    stream.on('error', () => finish(false));
    stream.on('close', () => finish(false));
    stream.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 8) finish(received.subarray(0, 8).toString('latin1') === 'NBDMAGIC');
    });
  });
}

export interface HubRelay {
  /** The Unix socket on the hub it listens on. */
  readonly path: string;
  close(): Promise<void>;
}

// `listen` (a Unix socket in a 0700 directory of ours) on the hub, each connection piped to the socket on the replica node.
export async function startHubRelay(
  node: NodeHost,
  listen: string,
  socket: string,
  onError: (error: Error) => void,
): Promise<HubRelay> {
  const open = new Set<Socket | Duplex>();
  const server: Server = createServer((incoming) => {
    incoming.setNoDelay(true);
    incoming.pause();
    open.add(incoming);
    incoming.on('close', () => open.delete(incoming));
    node.connectUnixSocket(socket).then(
      (outgoing) => {
        open.add(outgoing);
        const teardown = () => {
          incoming.destroy();
          outgoing.destroy();
        };
        outgoing.on('error', teardown).on('close', () => open.delete(outgoing));
        incoming.on('error', teardown);
        incoming.pipe(outgoing).pipe(incoming);
        incoming.resume();
      },
      (error: unknown) => {
        incoming.destroy();
        onError(error as Error);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: Error) => reject(new SendenseError(`cannot listen on ${listen}: ${error.message}`)));
    // Not a port: any local user can open 127.0.0.1 (docs/replication.md#the-data-path).
    server.listen(listen, () => resolve());
  });
  let closed = false;
  return {
    path: listen,
    close: async () => {
      if (closed) return;
      closed = true;
      for (const stream of open) stream.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function oneLine(text: string): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('sendense-child '))
    .map((line) => line.replace(/^qemu-nbd: /, '').trim())
    .join('; ');
}
