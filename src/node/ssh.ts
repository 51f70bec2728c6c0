// The NodeHost for a node reached over SSH (ssh2): commands, the tunnel of leased ports and the
// node transfer all travel over one connection, opened and host-key-checked by ssh-connect.ts.

import type { NodeSpec } from '../plan/types.js';
import type { NodeHost } from './node.js';
import { transferBundlePath } from './package-root.js';
import { describeNode, openSshConnection, type SshConnectOptions } from './ssh-connect.js';
import { SshForwarder } from './ssh-forwards.js';
import { SshLink } from './ssh-link.js';
import { execOverSsh, spawnOverSsh } from './ssh-process.js';
import { installTransfer } from './ssh-transfer-install.js';

export interface SshNodeOptions extends SshConnectOptions {
  /** The node transfer bundle to install; default runners/dist/sendense-transfer.mjs of this package. */
  readonly transferBundle?: string;
}

export async function connectSshNode(spec: NodeSpec, options: SshNodeOptions = {}): Promise<NodeHost> {
  const description = describeNode(spec);
  const { client, socket } = await openSshConnection(spec, options);
  const link = new SshLink(client, socket, description);
  const forwarder = new SshForwarder(link);
  let transfer: Promise<readonly string[]> | undefined;

  return Object.freeze({
    description,
    isLocal: false,
    exec: (argv, execOptions) => execOverSsh(link, argv, execOptions),
    spawn: (argv, execOptions) => spawnOverSsh(link, argv, execOptions),
    forwardPorts: (ports) => forwarder.forward(ports),
    // Installed once per connection; a failed attempt is retried on the next call.
    transferCommand: () => {
      transfer ??= Promise.resolve()
        .then(() => installTransfer(link, options.transferBundle ?? transferBundlePath()))
        .catch((error: unknown) => {
        transfer = undefined;
        throw error;
      });
      return transfer;
    },
    close: () => link.close(),
  } satisfies NodeHost);
}
