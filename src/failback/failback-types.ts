// What a failback is asked, works on and answers (./fail-back.ts, ./failback-copy.ts).

import type { RunReporter } from '../engine/run-events.js';
import type { NodeExec, Virsh } from '../libvirt/virsh.js';
import type { NodeHost } from '../node/node.js';
import type { ReplicatePlan } from '../plan/types.js';
import type { ReplicaPoint, Store } from '../store/index.js';
import type { CopyBackDisk } from './copy-back.js';

export interface FailbackRequest {
  readonly store: Store;
  readonly plan: ReplicatePlan;
  readonly runId: string;
  readonly signal: AbortSignal;
  readonly reporter: RunReporter;
  /** How long the standby may take to shut down once asked. */
  readonly waitSeconds: number;
  /** A note for the person (stderr, not with --quiet). */
  say(line: string): void;
}

export interface FailedBack {
  /** The original domain, started, and its node for people. */
  readonly domain: string;
  readonly node: string;
  /** The failed-over domain, shut off, and its node. */
  readonly standby: string;
  readonly standbyNode: string;
  /** The failover's point: the syncs go on from it. */
  readonly pointId: string;
  /** What this run copied: only the changes, every block, or nothing (a killed failback had copied it all). */
  readonly copy: 'incremental' | 'full' | 'none';
  /** Why every block was copied, when it was. */
  readonly whyFull?: string;
  readonly bytesWritten: number;
  /** The original ran already (a killed failback had started it). */
  readonly alreadyRunning: boolean;
}

export interface FailbackDisk extends CopyBackDisk {
  /** The failover point's disk: replica.path and its layer. */
  readonly point: ReplicaPoint['disks'][number];
}

/** Both sides of a failback: the standby (the failed-over domain, on the replica node) and the original. */
export interface FailbackSides {
  readonly request: FailbackRequest;
  readonly source: Extract<ReplicatePlan['vm']['source'], { type: 'libvirt' }>;
  readonly replicaNode: NodeHost;
  readonly sourceNode: NodeHost;
  readonly standbyExec: NodeExec;
  readonly originalExec: NodeExec;
  readonly standbyVirsh: Virsh;
  readonly originalVirsh: Virsh;
  readonly standby: string;
  readonly original: string;
}
