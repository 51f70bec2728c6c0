// A drill run (docs/drills.md): what resolve-point decides and each later step fills in.

import type { Resolved, RunContext } from '../../engine/run-context.js';
import type { Virsh } from '../../libvirt/virsh.js';
import type { DrillPlan } from '../../plan/types.js';
import type { ServedDisk } from '../../steps/serving-run.js';
import type { DrillCheckResult } from '../../store/index.js';
import type { DrillNetworkFacts } from '../../libvirt/drill-network.js';

/** One disk of the drill's domain: the point's file served on the hub and its overlay on the node. */
export interface DrillDisk extends ServedDisk {
  /** The source image the backup read (how the stored definition's disk is found). */
  readonly source: string;
  readonly virtualSize: number;
  readonly overlay: string;
}

export interface DrillState {
  /** The point drilled: a backup's id, or a replica point's (drill.replica). */
  readonly backupId: string;
  /** drill.replica: the replicate plan and its point's layers on the node, which the overlays are backed by (never written). */
  readonly replica?: { readonly plan: string; readonly layers: readonly string[] };
  readonly disks: readonly DrillDisk[];
  readonly storedXml: string;
  /** The drill's own directory on the node: overlays, console file, screenshot. */
  readonly dir: string;
  readonly domain: string;
  readonly consoleFile: string;
  /** point: new, and the newest point was drilled already: why the run does nothing. */
  readonly nothingNew?: string;
  /** isolation.network: isolated: the drill's bridge and namespace, once recorded. */
  network?: DrillNetworkFacts;
  /** When the domain was created (ms since the epoch). */
  createdAt?: number;
  readonly results: DrillCheckResult[];
  bootSeconds?: number;
  heartbeatSeconds?: number;
  /** Base64 PNG. */
  screenshot?: string;
}

export interface DrillRun extends RunContext<DrillPlan>, Resolved<DrillState> {
  readonly virsh: Virsh;
}
