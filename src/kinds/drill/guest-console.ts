// The drill's guest console (docs/drills.md#heartbeat): the serial console libvirt writes into the
// drill's own file, read on the node: its lines, a panic among them, its last lines for a report.

import type { DrillRun } from './drill-run.js';

const READ_BYTES = 256 * 1024;
/** How many of the console's last lines a failed drill reports. */
export const TAIL_LINES = 20;
const PANIC = /Kernel panic - not syncing.*/;

// The console so far (its last READ_BYTES), '' before the guest wrote anything.
export async function consoleText(run: DrillRun): Promise<string> {
  const read = await run.node.exec(['tail', '-c', String(READ_BYTES), '--', run.state.consoleFile]);
  return read.exitCode === 0 ? read.stdout.replaceAll('\r', '') : '';
}

export function consoleTail(text: string, lines = TAIL_LINES): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-lines)
    .join('\n');
}

// The kernel's panic line, if the guest panicked.
export function panicLine(text: string): string | undefined {
  return PANIC.exec(text)?.[0].trim();
}
