// A drill's domain on the node (docs/drills.md#cleanup): recorded as a node resource before it
// exists; everything the drill made goes the same way for the run's cleanup and for doctor after a
// kill: the transient domain destroyed (then it is gone), its directory
// (overlays, console file, screenshot) removed.

import { SendenseError } from '../errors.js';
import { removeScratchDir } from './scratch-dir.js';
import { virshMessage, virshOn, type NodeExec } from './virsh.js';

// The node resource doctor ends a killed drill's domain by (src/doctor/resources/other-resources.ts).
export const DRILL_RESOURCE = 'drill-domain';

/** What the resource records: enough to destroy the domain and remove the directory. */
export interface DrillDomainFacts {
  readonly domain: string;
  readonly uri: string;
  readonly dir: string;
  /** A drill of a replica's point: that point's id (its folds wait while the drill lasts, src/replica/tested-points.ts). */
  readonly replicaPoint?: string;
}

export async function endDrill(exec: NodeExec, facts: DrillDomainFacts): Promise<void> {
  const virsh = virshOn(exec, facts.uri);
  if ((await virsh.attempt(['domstate', facts.domain])).exitCode === 0) {
    const destroyed = await virsh.attempt(['destroy', facts.domain]);
    const still = await virsh.attempt(['domstate', facts.domain]);
    // A persistent one (not ours: ours are transient) would stay defined; a running one is a failure.
    if (still.exitCode === 0 && still.stdout.trim() === 'running')
      throw new SendenseError(`cannot destroy the drill's domain ${facts.domain}: ${virshMessage(destroyed)}`);
  }
  await removeScratchDir(exec, facts.dir);
}
