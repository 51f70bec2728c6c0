// A removed point's checkpoint goes with it (forget, retention: docs/how-it-works.md#checkpoints-on-a-domain):
// its name carries the point's chain and id, so no other point starts from it, and left behind it
// would keep QEMU tracking every write for nothing. Looked for on the domains runs of the VM took
// checkpoints on; one that cannot be reached is left and said (doctor finds it later).

import { isSendenseBitmap } from '../repository/layout.js';
import { virshOn } from '../libvirt/virsh.js';
import type { Backup, CheckpointDomain, Store } from '../store/index.js';

/** A removed point's checkpoints, on the domains runs of its VM took checkpoints on. */
export interface PointCheckpoints {
  readonly backup: Backup;
  readonly names: readonly string[];
  readonly domains: readonly CheckpointDomain[];
  readonly runId: string;
}

// Before the point's record goes: each of its checkpoints recorded as a node resource of the
// removing run `runId`, so that a run killed between the record and the deletion leaves it to
// doctor, which deletes a dead run's checkpoints (src/doctor/resources/), not to the orphan report.
export async function recordPointCheckpoints(store: Store, runId: string, backup: Backup): Promise<PointCheckpoints> {
  // A qemu source's bitmap is recorded as the point's own (point-bitmaps.ts); a checkpoint is not.
  const names = [
    ...new Set(
      backup.disks.flatMap((disk) =>
        disk.bitmap === null && disk.changeId !== null && isSendenseBitmap(disk.changeId) ? [disk.changeId] : [],
      ),
    ),
  ];
  const nodes = new Set(backup.disks.map((disk) => disk.sourceNode));
  const domains =
    names.length === 0
      ? []
      : (await store.checkpointDomains()).filter((row) => row.vm === backup.vm && nodes.has(row.node));
  const disks = backup.disks.map((disk) => ({ target: '', path: disk.source }));
  for (const row of domains)
    for (const name of names)
      await store.recordNodeResource({
        runId,
        node: row.node,
        kind: 'checkpoint',
        name,
        facts: { domain: row.domain, uri: row.uri, disks, nodeSpec: row.nodeSpec },
      });
  return { backup, names, domains, runId };
}

// Deletes them and forgets their records; returns a line for each checkpoint deleted or left
// behind (left: its record stays, and doctor deletes it later).
export async function releasePointCheckpoints(store: Store, recorded: PointCheckpoints): Promise<readonly string[]> {
  const { backup, names, domains } = recorded;
  if (domains.length === 0) return [];
  // Only with checkpoints to delete: a run of a qemu source never loads virsh's XML
  // (bench/README.md#the-clis-start-issue-80).
  const { removeOurCheckpoint, withDomainNode } = await import('./domain-checkpoints.js');
  const lines: string[] = [];
  for (const row of domains) {
    const where = `domain ${row.domain}${row.nodeSpec === null ? '' : ` on ${row.node}`}`;
    try {
      await withDomainNode(row.nodeSpec, async (host) => {
        const virsh = virshOn((argv, options) => host.exec(argv, options), row.uri);
        for (const name of names) {
          if (await removeOurCheckpoint(virsh, (argv, options) => host.exec(argv, options), row.domain, name))
            lines.push(`checkpoint ${name} of ${where} deleted with point ${backup.id}`);
          await store.forgetNodeResource(row.node, 'checkpoint', name);
        }
      });
    } catch (error) {
      lines.push(
        `checkpoint ${names.join(', ')} may be left on ${where} (${(error as Error).message}): sendense-run doctor deletes it`,
      );
    }
  }
  return lines;
}
