// `--node [USER@]HOST[:PORT]` with `--identity FILE` and `--known-hosts FILE`
// (docs/instant-recovery.md): the node a command reaches over SSH, as a plan's node: block gives it.

import { userInfo } from 'node:os';
import path from 'node:path';
import { usageError } from '../errors.js';
import { DEFAULT_KNOWN_HOSTS } from '../plan/build-parts.js';
import { expandHome } from '../plan/home-path.js';
import type { NodeSpec } from '../plan/types.js';

export interface NodeOptionFiles {
  readonly identity?: string;
  /** Default ~/.ssh/known_hosts: the node's host key is always checked. */
  readonly knownHosts?: string;
}

// user@host, host:port, [2001:db8::1]:22; the user defaults to this one, the port to 22.
const NODE = /^(?:([^@\s]+)@)?(\[[0-9A-Fa-f:.]+\]|[^@\s:[\]]+)(?::(\d+))?$/;

export function parseNodeOption(text: string, files: NodeOptionFiles = {}): NodeSpec {
  const match = NODE.exec(text);
  if (match === null)
    throw usageError(`--node: must be [USER@]HOST[:PORT], an IPv6 address in brackets (got '${text}')`);
  const [, user, host, portText] = match;
  const port = portText === undefined ? 22 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw usageError(`--node: port ${portText} is not within 1-65535`);
  const file = (value: string) => path.resolve(expandHome(value));
  return Object.freeze({
    host: host!.replace(/^\[(.*)\]$/, '$1'),
    port,
    user: user ?? userInfo().username,
    identityFile: files.identity === undefined ? undefined : file(files.identity),
    knownHosts: file(files.knownHosts ?? DEFAULT_KNOWN_HOSTS),
  });
}
