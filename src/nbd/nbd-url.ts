// NBD URIs (github.com/NetworkBlockDevice/nbd doc/uri.md): nbd://host:port/export and
// nbd+unix:///export?socket=PATH, parsed into where to connect and which export to ask for.

import { SendenseError } from '../errors.js';

export type NbdAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly exportName: string }
  | { readonly kind: 'unix'; readonly socketPath: string; readonly exportName: string };

// uri.md: the default NBD port.
const DEFAULT_PORT = 10809;

export function parseNbdUrl(text: string): NbdAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SendenseError(
      `'${text}' is not an NBD URL (expected nbd://host:port/export or nbd+unix:///export?socket=PATH)`,
      { exitCode: 2 },
    );
  }
  const exportName = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (url.protocol === 'nbd:' || url.protocol === 'nbd+tcp:') {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!host) throw new SendenseError(`NBD URL '${text}' has no host`, { exitCode: 2 });
    const port = url.port === '' ? DEFAULT_PORT : Number(url.port);
    return Object.freeze({ kind: 'tcp', host, port, exportName });
  }
  if (url.protocol === 'nbd+unix:') {
    const socketPath = url.searchParams.get('socket');
    if (!socketPath) throw new SendenseError(`NBD URL '${text}' has no ?socket=PATH`, { exitCode: 2 });
    return Object.freeze({ kind: 'unix', socketPath, exportName });
  }
  throw new SendenseError(
    `NBD URL '${text}': scheme '${url.protocol.slice(0, -1)}' is not supported (TLS is not implemented)`,
    { exitCode: 2 },
  );
}

// For messages: the address the way a user would write it.
export function describeNbdAddress(address: NbdAddress): string {
  const name = encodeURIComponent(address.exportName);
  if (address.kind === 'unix') return `nbd+unix:///${name}?socket=${address.socketPath}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `nbd://${host}:${address.port}/${name}`;
}
