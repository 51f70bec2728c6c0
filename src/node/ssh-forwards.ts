// The tunnel: remote forwards (RFC 4254 section 7.1, tcpip-forward) of exactly the ports a run
// leased, so 127.0.0.1:<nodePort> on the node reaches 127.0.0.1:<hubPort> on the hub, or the Unix
// socket the hub's server listens on instead of that port.

import { connect, type Socket } from 'node:net';
import type { ClientChannel } from 'ssh2';
import { SendenseError } from '../errors.js';
import type { PortForwards } from './node.js';
import { listeningPorts } from './node-listening-ports.js';
import { execOverSsh } from './ssh-process.js';
import type { SshLink } from './ssh-link.js';

const LOOPBACK = '127.0.0.1';

/** Where a forwarded connection goes on the hub: a port on 127.0.0.1, or a Unix socket. */
type HubEnd = { readonly port: number } | { readonly path: string };

export class SshForwarder {
  // node port -> where it goes on the hub, for every forward currently open on this connection.
  private readonly routes = new Map<number, HubEnd>();
  private readonly open = new Map<number, Set<Socket | ClientChannel>>();

  constructor(private readonly link: SshLink) {
    link.client.on('tcp connection', (info, accept, reject) => {
      const hubEnd = this.routes.get(info.destPort);
      if (hubEnd === undefined || info.destIP !== LOOPBACK) {
        reject();
        return;
      }
      this.bridge(info.destPort, hubEnd, accept());
    });
  }

  async forward(ports: readonly number[], sockets: ReadonlyMap<number, string> = new Map()): Promise<PortForwards> {
    const nodePorts = new Map<number, number>();
    const taken = await listeningPorts((argv) => execOverSsh(this.link, argv));
    try {
      for (const hubPort of new Set(ports)) {
        const nodePort = await this.bind(hubPort, taken.has(hubPort));
        nodePorts.set(hubPort, nodePort);
        const socket = sockets.get(hubPort);
        this.routes.set(nodePort, socket === undefined ? { port: hubPort } : { path: socket });
        this.open.set(nodePort, new Set());
      }
    } catch (error) {
      await this.unbind([...nodePorts.values()]);
      throw error;
    }
    let closed = false;
    const link = this.link;
    return Object.freeze({
      nodePorts,
      close: async () => {
        if (closed) return;
        closed = true;
        await this.unbind([...nodePorts.values()]);
      },
      // The forwards live on this connection: its loss ends them (a new connection does not bring them back).
      onLost: (listener: (error: SendenseError) => void) => {
        link.onLost((error) => {
          if (!closed) listener(error);
        });
      },
    });
  }

  // The same port number on the node when free there, else one the node picks.
  private async bind(hubPort: number, takenOnNode: boolean): Promise<number> {
    try {
      if (takenOnNode) throw new Error(`port ${hubPort} is in use on the node`);
      return await this.forwardIn(hubPort);
    } catch {
      try {
        return await this.forwardIn(0);
      } catch (error) {
        throw new SendenseError(`${this.link.description}: cannot open a tunnel for port ${hubPort} (is AllowTcpForwarding enabled in the node's sshd?): ${(error as Error).message}`);
      }
    }
  }

  private forwardIn(port: number): Promise<number> {
    this.link.assertUp();
    return new Promise((resolve, reject) => {
      this.link.client.forwardIn(LOOPBACK, port, (error, boundPort) => (error ? reject(error) : resolve(boundPort)));
    });
  }

  private async unbind(nodePorts: readonly number[]): Promise<void> {
    await Promise.all(
      nodePorts.map(async (nodePort) => {
        this.routes.delete(nodePort);
        for (const stream of this.open.get(nodePort) ?? []) stream.destroy();
        this.open.delete(nodePort);
        if (this.link.lost) return;
        await new Promise<void>((resolve) => {
          try {
            this.link.client.unforwardIn(LOOPBACK, nodePort, () => resolve());
          } catch {
            resolve();
          }
        });
      }),
    );
  }

  // One forwarded connection: the SSH channel piped both ways to the hub's listener.
  private bridge(nodePort: number, hubEnd: HubEnd, channel: ClientChannel): void {
    const socket = 'path' in hubEnd ? connect({ path: hubEnd.path }) : connect({ host: LOOPBACK, port: hubEnd.port }).setNoDelay(true);
    const tracked = this.open.get(nodePort);
    tracked?.add(socket).add(channel);
    // A clean end travels through pipe() (so nothing in flight is dropped); an error tears down both.
    const teardown = (): void => {
      socket.destroy();
      channel.destroy();
    };
    socket.on('error', teardown).on('close', () => tracked?.delete(socket));
    channel.on('error', teardown).on('close', () => tracked?.delete(channel));
    channel.pipe(socket).pipe(channel);
  }
}
