// The tunnel: remote forwards (RFC 4254 section 7.1, tcpip-forward) of exactly the ports a run
// leased, so 127.0.0.1:<nodePort> on the node reaches 127.0.0.1:<hubPort> on the hub, or the Unix
// socket the hub's server listens on instead of that port. Or, reachable by no other user of the
// node, Unix sockets in a private directory there (OpenSSH's streamlocal-forward@openssh.com), each
// reaching one socket of the hub (docs/how-it-works.md#the-data-path).

import { connect, type Socket } from 'node:net';
import path from 'node:path';
import type { Channel, ClientChannel } from 'ssh2';
import { SendenseError } from '../errors.js';
import type { PortForwards, SocketForwards } from './node.js';
import { listeningPorts } from './node-listening-ports.js';
import { execOverSsh } from './ssh-process.js';
import type { SshLink } from './ssh-link.js';

const LOOPBACK = '127.0.0.1';

// The tunnel's directory on the node, made after the stale ones of this user are removed: a hub
// killed outright leaves its directory and the socket files sshd bound in it, which no sshd listens
// on any more (docs/how-it-works.md#the-data-path). Stale: a directory of ours (not a link),
// unchanged for a minute, holding only sockets, every one refusing connections (probed by the
// node's Node.js, which the node transfer needs anyway; a live tunnel's sockets are listened on
// from just after its directory is made until it goes), or holding nothing for over an hour.
// $1 is TUNNEL_DIR_PROBE.
const MAKE_TUNNEL_DIR = `
probe=$1
set --
for dir in "\${TMPDIR:-/tmp}"/sendense-tunnel-*; do
  [ -d "$dir" ] && [ ! -L "$dir" ] && [ -O "$dir" ] && [ -n "$(find "$dir" -maxdepth 0 -mmin +1)" ] || continue
  sockets=0
  for entry in "$dir"/* "$dir"/.[!.]*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    if [ -S "$entry" ] && [ ! -L "$entry" ]; then sockets=$((sockets + 1)); else sockets=-1; break; fi
  done
  if [ "$sockets" -gt 0 ]; then
    set -- "$@" "$dir"
  elif [ "$sockets" -eq 0 ] && [ -n "$(find "$dir" -maxdepth 0 -mmin +60)" ]; then
    rmdir -- "$dir" 2>/dev/null
  fi
done
[ "$#" -eq 0 ] || node -e "$probe" -- "$@" >/dev/null 2>&1
exec mktemp -d -t sendense-tunnel-XXXXXX
`;

// Removes each directory given whose every socket refuses connections (ECONNREFUSED: bound by
// no one any more).
const TUNNEL_DIR_PROBE = `
const { readdirSync, rmSync } = require('node:fs');
const { connect } = require('node:net');
const refuses = (socket) => new Promise((resolve) => {
  const probe = connect({ path: socket });
  probe.once('connect', () => { probe.destroy(); resolve(false); });
  probe.once('error', (error) => resolve(error.code === 'ECONNREFUSED'));
});
(async () => {
  for (const dir of process.argv.slice(1)) {
    const sockets = readdirSync(dir).map((name) => dir + '/' + name);
    if (sockets.length > 0 && (await Promise.all(sockets.map(refuses))).every(Boolean))
      rmSync(dir, { recursive: true, force: true });
  }
})();
`;

/** Where a forwarded connection goes on the hub: a port on 127.0.0.1, or a Unix socket. */
type HubEnd = { readonly port: number } | { readonly path: string };

export class SshForwarder {
  // node port -> where it goes on the hub, for every forward currently open on this connection.
  private readonly routes = new Map<number, HubEnd>();
  private readonly open = new Map<number, Set<Socket | ClientChannel | Channel>>();
  // node socket -> the hub's socket it reaches, and the streams of each.
  private readonly socketRoutes = new Map<string, string>();
  private readonly socketOpen = new Map<string, Set<Socket | ClientChannel | Channel>>();

  constructor(private readonly link: SshLink) {
    link.client.on('tcp connection', (info, accept, reject) => {
      const hubEnd = this.routes.get(info.destPort);
      if (hubEnd === undefined || info.destIP !== LOOPBACK) {
        reject();
        return;
      }
      this.bridge(hubEnd, accept(), this.open.get(info.destPort));
    });
    link.client.on('unix connection', (info, accept, reject) => {
      const hubSocket = this.socketRoutes.get(info.socketPath);
      if (hubSocket === undefined) {
        reject();
        return;
      }
      this.bridge({ path: hubSocket }, accept(), this.socketOpen.get(info.socketPath));
    });
  }

  // Each hub socket reached from a socket of its own in a new 0700 directory on the node (sshd
  // makes each socket 0600 by its StreamLocalBindMask): only the SSH user gets in. Removed on close.
  async forwardSockets(hubSockets: readonly string[]): Promise<SocketForwards> {
    const made = await execOverSsh(this.link, ['sh', '-c', MAKE_TUNNEL_DIR, 'sh', TUNNEL_DIR_PROBE]);
    const dir = made.stdout.trim();
    if (made.exitCode !== 0 || !dir.startsWith('/')) {
      throw new SendenseError(
        `${this.link.description}: cannot make a private directory for the tunnel's sockets (mktemp -d): ${made.stderr.trim() || `exit ${made.exitCode}`}`,
      );
    }
    const nodeSockets = new Map<string, string>();
    try {
      for (const [index, hubSocket] of [...new Set(hubSockets)].entries()) {
        const nodeSocket = path.posix.join(dir, `${index}-${path.basename(hubSocket)}`);
        await this.forwardInStreamLocal(nodeSocket);
        nodeSockets.set(hubSocket, nodeSocket);
        this.socketRoutes.set(nodeSocket, hubSocket);
        this.socketOpen.set(nodeSocket, new Set());
      }
    } catch (error) {
      await this.unbindSockets([...nodeSockets.values()], dir);
      throw new SendenseError(
        `${this.link.description}: cannot open a tunnel to a Unix socket (is AllowStreamLocalForwarding enabled in the node's sshd?): ${(error as Error).message}`,
      );
    }
    return Object.freeze({ nodeSockets, ...this.closing(() => this.unbindSockets([...nodeSockets.values()], dir)) });
  }

  // close() once, and the loss of this connection heard until then: the forwards live on it (a new
  // connection does not bring them back).
  private closing(unbind: () => Promise<void>): {
    close(): Promise<void>;
    onLost(listener: (error: SendenseError) => void): void;
  } {
    let closed = false;
    return {
      close: async () => {
        if (closed) return;
        closed = true;
        await unbind();
      },
      onLost: (listener) => {
        this.link.onLost((error) => {
          if (!closed) listener(error);
        });
      },
    };
  }

  private forwardInStreamLocal(nodeSocket: string): Promise<void> {
    this.link.assertUp();
    return new Promise((resolve, reject) => {
      this.link.client.openssh_forwardInStreamLocal(nodeSocket, (error) => (error ? reject(error) : resolve()));
    });
  }

  // sshd stops listening; the directory (and what sshd left in it) goes with one rm on the node.
  private async unbindSockets(nodeSockets: readonly string[], dir: string): Promise<void> {
    for (const nodeSocket of nodeSockets) {
      this.socketRoutes.delete(nodeSocket);
      for (const stream of this.socketOpen.get(nodeSocket) ?? []) stream.destroy();
      this.socketOpen.delete(nodeSocket);
      if (this.link.lost) continue;
      await new Promise<void>((resolve) => {
        try {
          this.link.client.openssh_unforwardInStreamLocal(nodeSocket, () => resolve());
        } catch {
          resolve();
        }
      });
    }
    if (!this.link.lost) await execOverSsh(this.link, ['rm', '-rf', '--', dir]).catch(() => undefined);
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
    return Object.freeze({ nodePorts, ...this.closing(() => this.unbind([...nodePorts.values()])) });
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
        throw new SendenseError(
          `${this.link.description}: cannot open a tunnel for port ${hubPort} (is AllowTcpForwarding enabled in the node's sshd?): ${(error as Error).message}`,
        );
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
  private bridge(
    hubEnd: HubEnd,
    channel: ClientChannel | Channel,
    tracked: Set<Socket | ClientChannel | Channel> | undefined,
  ): void {
    const socket =
      'path' in hubEnd
        ? connect({ path: hubEnd.path })
        : connect({ host: LOOPBACK, port: hubEnd.port }).setNoDelay(true);
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
