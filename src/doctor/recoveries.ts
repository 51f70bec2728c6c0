// Recoveries of killed recover runs (docs/instant-recovery.md): the recovered domain is never
// stopped or undefined. While it runs on its overlays it reads the dead run's served point, so
// doctor finishes the move (moveStorage) or leaves the serving up and says why; a shut-off domain
// is copied to its storage files; once nothing reads the overlays they are removed.

import {
  domainUse,
  moveWhileRunning,
  moveWhileShutOff,
  type MoveContext,
  type RecoveredImage,
} from '../libvirt/move-storage.js';
import { removeScratchDir } from '../libvirt/scratch-dir.js';
import { execOn, virshOn } from '../libvirt/virsh.js';
import { RECOVERY_RESOURCE } from '../kinds/recover/recover-run.js';
import { LOCAL_NODE_ID, type NodeHost } from '../node/node.js';
import type { NodeSpec } from '../plan/types.js';
import type { NodeResource } from '../store/index.js';
import { reach } from './node-resources.js';
import type { DoctorContext, Sweeper } from './sweeper.js';

interface RecoveryFacts {
  readonly domain: string;
  readonly uri: string;
  readonly overlayDir: string;
  readonly moveStorage: boolean;
  readonly disks: readonly RecoveredImage[];
  readonly nodeSpec: NodeSpec | null;
}

export const recoveriesSweeper: Sweeper = {
  name: 'recoveries',
  tables: ['node_resources'],
  async sweep(doctor) {
    for (const resource of await doctor.store.allNodeResources()) {
      if (resource.kind !== RECOVERY_RESOURCE || (await doctor.isLive(resource.runId))) continue;
      const facts = resource.facts as unknown as RecoveryFacts;
      const host = await reach(doctor, resource.node, facts.nodeSpec);
      const what = `recovery of domain ${facts.domain}${resource.node === LOCAL_NODE_ID ? '' : ` on ${resource.node}`} (run ${resource.runId})`;
      if (typeof host === 'string') {
        doctor.kept.add(resource.runId);
        doctor.report(
          what,
          `could not reach ${resource.node} (${host}): its served point is left up; run doctor again when the node answers`,
        );
        continue;
      }
      try {
        await finish(doctor, host, resource, facts, what);
      } finally {
        if (host !== doctor.local) await host.close();
      }
    }
  },
};

async function finish(
  doctor: DoctorContext,
  host: NodeHost,
  resource: NodeResource,
  facts: RecoveryFacts,
  what: string,
): Promise<void> {
  const exec = execOn(host);
  const virsh = virshOn(exec, facts.uri);
  const { disks } = facts;
  const use = await domainUse(virsh, facts.domain, disks);
  const done = async () => {
    await removeScratchDir(exec, facts.overlayDir);
    await doctor.store.forgetNodeResource(resource.node, resource.kind, resource.name);
    doctor.kept.delete(resource.runId);
  };
  const context: MoveContext = { virsh, exec, domain: facts.domain, disks };
  if (!use.exists || use.onOverlays.length === 0) {
    return doctor.act(
      `${what}: ${use.exists ? 'no disk uses its overlays any more' : 'the domain does not exist'}`,
      `remove its overlays ${facts.overlayDir}`,
      done,
    );
  }
  // Its served point stays up unless the move below finishes (a dry run, or a move that fails).
  doctor.kept.add(resource.runId);
  if (!use.active) {
    return doctor.act(
      `${what}: shut off, its disks still on the overlays over the served point`,
      'copy them to their storage files and define the domain on them',
      async () => {
        await moveWhileShutOff(context);
        await done();
      },
    );
  }
  if (facts.moveStorage) {
    return doctor.act(
      `${what}: running from the served point, the move not finished`,
      'finish the move (copy while it runs, switch over), then stop serving',
      async () => {
        await moveWhileRunning(context);
        await done();
      },
    );
  }
  doctor.report(
    `${what}: running from the served point (moveStorage false)`,
    `left serving: shut the domain down (virsh shutdown ${facts.domain}), then run doctor again to copy its disks to their storage`,
  );
}
