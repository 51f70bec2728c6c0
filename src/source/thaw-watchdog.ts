// A guest must never stay frozen (docs/how-it-works.md#libvirt-domains). While it is, a small
// program on the node holds our stdin: when the stdin closes, because we are done or because this
// process died (kill -9, a lost SSH link), it thaws the guest. Thawing a thawed guest does nothing.
// A terminal's Ctrl+C or hangup reaches it too (it shares our process group here): it ignores
// them and thaws when we let go, after our own clean-up.

import type { SnapshotContext } from './backup-source.js';
import { thawWatchdogWanted } from '../crash-points.js';

const WATCHDOG = `trap '' HUP INT QUIT; cat >/dev/null; exec virsh --quiet -c "$1" domfsthaw "$2"`;

export function startThawWatchdog(
  context: Pick<SnapshotContext, 'spawn'>,
  uri: string,
  domain: string,
): { release(): Promise<void> } {
  if (!thawWatchdogWanted()) return { release: async () => undefined };
  const child = context.spawn(['sh', '-c', WATCHDOG, 'sendense-thaw-watchdog', uri, domain]);
  return { release: () => child.stop() };
}
