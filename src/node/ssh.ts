// The NodeHost for a node reached over SSH (ssh2): commands, the tunnel of leased ports and the
// node transfer all travel over one connection, opened and host-key-checked by ssh-connect.ts;
// after the link drops, commands reconnect once (ssh-link-keeper.ts) so cleanup still reaches the node.

import type { NodeSpec } from '../plan/types.js';
import type { NodeHost } from './node.js';
import { transferBundlePath } from './package-root.js';
import { describeNode } from './node-description.js';
import { openSshConnection, type SshConnectOptions } from './ssh-connect.js';
import { SshLink } from './ssh-link.js';
import { RECONNECT_TIMEOUT_MS, SshLinkKeeper } from './ssh-link-keeper.js';
import { installTransfer } from './ssh-transfer-install.js';

export interface SshNodeOptions extends SshConnectOptions {
  /** The node transfer bundle to install; default runners/dist/sendense-transfer.mjs of this package. */
  readonly transferBundle?: string;
}

export async function connectSshNode(spec: NodeSpec, options: SshNodeOptions = {}): Promise<NodeHost> {
  const description = describeNode(spec);
  const open = async (connectOptions: SshConnectOptions): Promise<SshLink> => {
    const { client, socket } = await openSshConnection(spec, connectOptions);
    return new SshLink(client, socket, description);
  };
  const readyTimeoutMs = Math.min(options.readyTimeoutMs ?? RECONNECT_TIMEOUT_MS, RECONNECT_TIMEOUT_MS);
  const keeper = new SshLinkKeeper(await open(options), () => open({ ...options, readyTimeoutMs }));
  let transfer: Promise<readonly string[]> | undefined;

  return Object.freeze({
    description,
    id: description,
    isLocal: false,
    exec: (argv, execOptions) => keeper.exec(argv, execOptions),
    spawn: (argv, execOptions) => keeper.spawn(argv, execOptions),
    forwardPorts: async (ports, sockets) => {
      await keeper.live();
      return keeper.forwards.forward(ports, sockets);
    },
    forwardSockets: async (sockets) => {
      await keeper.live();
      return keeper.forwards.forwardSockets(sockets);
    },
    connectUnixSocket: async (path) => (await keeper.live()).openStreamLocal(path),
    // Installed once per connection; a failed attempt is retried on the next call.
    transferCommand: () => {
      transfer ??= Promise.resolve()
        .then(async () => installTransfer(await keeper.live(), options.transferBundle ?? transferBundlePath()))
        .catch((error: unknown) => {
          transfer = undefined;
          throw error;
        });
      return transfer;
    },
    close: () => keeper.close(),
  } satisfies NodeHost);
}
