// Most disks in transfer at the same moment, from the progress events of one or several runs: a
// disk is in transfer from its first progress event to its last (bytesDone = bytesToDo); an end
// and a start at the same millisecond do not overlap.

import { commandLine, descendantPids, qemuNbdAmong } from '../support/process-tree.js';

export interface ProgressLine {
  readonly type: string;
  readonly time?: unknown;
  readonly disk?: unknown;
  readonly plan?: unknown;
  readonly bytesDone?: unknown;
  readonly bytesToDo?: unknown;
}

export function mostDisksAtOnce(lines: readonly ProgressLine[]): number {
  const spans = new Map<string, { start: number; end: number }>();
  for (const line of lines) {
    if (line.type !== 'progress' || line.disk === undefined) continue;
    const at = Date.parse(String(line.time));
    const key = `${String(line.plan ?? '')}/${String(line.disk)}`;
    const span = spans.get(key) ?? { start: at, end: at };
    if (line.bytesDone === line.bytesToDo) span.end = at;
    spans.set(key, span);
  }
  const edges = [...spans.values()].flatMap((span) => [[span.start, 1] as const, [span.end, -1] as const]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, step] of edges) most = Math.max(most, (now += step));
  return most;
}

/**
 * Most of the hub's qemu-nbd servers (on a TCP port, or on this host on a socket in its own
 * sendense-serve- directory; the node transfer's source qemu-nbd is on a socket in the transfer's)
 * running at once under process `pid` until `done` settles, sampled every 20 ms.
 */
export async function mostHubServersAtOnce(pid: number, done: Promise<unknown>): Promise<number> {
  let most = 0;
  let finished = false;
  void done.finally(() => (finished = true)).catch(() => undefined);
  while (!finished) {
    const servers = qemuNbdAmong(descendantPids(pid)).filter((child) => commandLine(child).some(isHubListener));
    most = Math.max(most, servers.length);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return most;
}

const isHubListener = (arg: string): boolean =>
  arg.startsWith('--port=') || (arg.startsWith('--socket=') && arg.includes('/sendense-serve-'));
