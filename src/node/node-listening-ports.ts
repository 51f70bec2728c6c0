// Which TCP ports already have a listener on a (Linux) node, read from /proc/net/tcp{,6}.
// Needed because sshd binds a remote forward on "localhost" (127.0.0.1 and ::1) and reports
// success when only ::1 was free: the node would then reach its own listener, not the hub.

import type { ExecResult } from './node.js';

const LISTEN = '0A';

export async function listeningPorts(exec: (argv: readonly string[]) => Promise<ExecResult>): Promise<Set<number>> {
  const result = await exec(['cat', '/proc/net/tcp', '/proc/net/tcp6']).catch(() => undefined);
  return parseProcNetTcp(result?.stdout ?? '');
}

// Lines look like "  0: 0100007F:2774 00000000:0000 0A ..." (local address:port in hex, state).
export function parseProcNetTcp(text: string): Set<number> {
  const ports = new Set<number>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || fields[3] !== LISTEN) continue;
    const port = Number.parseInt(fields[1].split(':').pop() ?? '', 16);
    if (Number.isInteger(port)) ports.add(port);
  }
  return ports;
}
