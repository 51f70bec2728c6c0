// A guest must never stay frozen (docs/how-it-works.md#libvirt-domains). While it is, a small
// program on the node holds our stdin: when the stdin closes before we said we thawed the guest,
// because this process died (kill -9, a lost SSH link), it thaws the guest. Thawing a thawed guest
// does nothing.
// A terminal's Ctrl+C or hangup reaches it too (it shares our process group here): it ignores
// them and thaws when we let go, after our own clean-up.

import type { SnapshotContext } from './backup-source.js';
import { thawWatchdogWanted } from '../crash-points.js';

// "thawed" on its stdin before it closes: we thawed the guest ourselves, so no second virsh is run.
const WATCHDOG = `trap '' HUP INT QUIT; read -r said; [ "$said" = thawed ] && exit 0; exec virsh --quiet -c "$1" domfsthaw "$2"`;

export function startThawWatchdog(
  context: Pick<SnapshotContext, 'spawn'>,
  uri: string,
  domain: string,
): { release(): Promise<void> } {
  if (!thawWatchdogWanted()) return { release: async () => undefined };
  const child = context.spawn(['sh', '-c', WATCHDOG, 'sendense-thaw-watchdog', uri, domain]);
  // Called once the guest is thawed.
  return {
    release: () => {
      child.write('thawed\n');
      return child.stop();
    },
  };
}
