// A recover run (docs/instant-recovery.md): what resolve-point decides and each later step fills in.

import type { Resolved, RunContext } from '../../engine/run-context.js';
import type { RecoveredImage } from '../../libvirt/move-storage.js';
import type { Virsh } from '../../libvirt/virsh.js';
import type { RecoverPlan } from '../../plan/types.js';
import type { ServedDisk } from '../../steps/serving-run.js';

/** One disk of the recovered domain: the point's file served on the hub, its overlay and storage file on the node. */
export interface RecoverDisk extends ServedDisk {
  /** The source image the backup read (how the stored definition's disk is found). */
  readonly source: string;
  readonly virtualSize: number;
  /** The overlay on the node the domain starts on (backing: the served point). */
  readonly overlay: string;
  /** Where the disk ends up. */
  readonly storage: string;
  /** Its target in the new domain (define-domain). */
  target?: string;
}

export interface RecoverState {
  readonly backupId: string;
  readonly disks: readonly RecoverDisk[];
  /** The stored domain XML of the point, if it has one (else the plan's definition is used). */
  readonly storedXml?: string;
  /** The run's directory of overlays on the node. */
  readonly overlayDir: string;
  /** Seconds from the command to the domain running. */
  runningAfter?: number;
  /** The disks no longer read the served point (moved, or the domain is gone). */
  released?: boolean;
}

export interface RecoverRun extends RunContext<RecoverPlan>, Resolved<RecoverState> {
  readonly virsh: Virsh;
}

// Each disk's overlay and storage file, as the move and doctor see them.
export function recoveredImages(run: RecoverRun): RecoveredImage[] {
  return run.state.disks.map(({ key, overlay, storage }) => ({ key, overlay, storage }));
}

// The node resource doctor finds a killed recovery by (src/doctor/recoveries.ts).
export const RECOVERY_RESOURCE = 'recovery';
