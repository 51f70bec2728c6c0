// A removed point's checkpoint goes with it (forget, retention: docs/how-it-works.md#checkpoints-on-a-domain):
// its name carries the point's chain and id, so no other point starts from it, and left behind it
// would keep QEMU tracking every write for nothing. Looked for on the domains runs of the VM took
// checkpoints on; one that cannot be reached is left and said (doctor finds it later).

import { isSendenseBitmap } from '../repository/layout.js';
import { virshOn } from '../libvirt/virsh.js';
import type { Backup, Store } from '../store/index.js';
import { removeOurCheckpoint, withDomainNode } from './domain-checkpoints.js';

// Returns a line for each checkpoint deleted or left behind.
export async function releasePointCheckpoint(store: Store, backup: Backup): Promise<readonly string[]> {
  // A qemu source's bitmap is recorded as the point's own (point-bitmaps.ts); a checkpoint is not.
  const names = [
    ...new Set(
      backup.disks.flatMap((disk) =>
        disk.bitmap === null && disk.changeId !== null && isSendenseBitmap(disk.changeId) ? [disk.changeId] : [],
      ),
    ),
  ];
  if (names.length === 0) return [];
  const nodes = new Set(backup.disks.map((disk) => disk.sourceNode));
  const domains = (await store.checkpointDomains()).filter((row) => row.vm === backup.vm && nodes.has(row.node));
  const lines: string[] = [];
  for (const row of domains) {
    const where = `domain ${row.domain}${row.nodeSpec === null ? '' : ` on ${row.node}`}`;
    try {
      await withDomainNode(row.nodeSpec, async (host) => {
        const virsh = virshOn((argv, options) => host.exec(argv, options), row.uri);
        for (const name of names)
          if (await removeOurCheckpoint(virsh, (argv, options) => host.exec(argv, options), row.domain, name))
            lines.push(`checkpoint ${name} of ${where} deleted with point ${backup.id}`);
      });
    } catch (error) {
      lines.push(
        `checkpoint ${names.join(', ')} may be left on ${where} (${(error as Error).message}): sendense-run doctor --remove-orphaned-checkpoints deletes it`,
      );
    }
  }
  return lines;
}
