// What every step of a run shares: the plan, where state lives, where commands run, how to
// report, how to give back what was taken, and the signal that cancels the run.

import type { NodeHost } from '../node/node.js';
import type { DiskKey, Plan } from '../plan/types.js';
import type { Store } from '../store/index.js';
import type { RunReporter } from './run-events.js';
import type { UndoStack } from './undo-stack.js';
import type { DiskSlots } from '../hub/disk-queue.js';
import type { Bandwidth } from '../rate/bandwidth.js';

export interface RunContext<P extends Plan = Plan> {
  readonly plan: P;
  readonly runId: string;
  readonly store: Store;
  readonly node: NodeHost;
  readonly reporter: RunReporter;
  readonly undo: UndoStack;
  /** Hub disk slots this run holds (docs/how-it-works.md#scale); none = no hub limits. */
  readonly diskSlots?: DiskSlots;
  /** The rate its data path may use, now and as hub windows change it (docs/bandwidth.md); none = not limited. */
  readonly bandwidth?: Bandwidth;
  /** Aborted on SIGINT/SIGTERM, a step timeout or a qemu-nbd dying mid-run. */
  readonly signal: AbortSignal;
  /** Abort the run from inside (e.g. a qemu-nbd died); the reason becomes the run's error. */
  readonly abort: (reason: Error) => void;
}

/**
 * One disk's qemu-nbd on the hub. start-qemu-nbd starts those of the disks copied first; when a
 * run's disks take turns within its hub slots, the others start when their turn comes and each
 * stops once its disk is done, so no more are running than disks in transfer (docs/how-it-works.md#scale).
 */
export interface DiskServer {
  /** Starts it unless it is running; true when this call started it. */
  start(): Promise<boolean>;
  /** Stops it before cleanup does (idempotent), e.g. to resize its file. */
  stop(): Promise<void>;
}

/** A run whose state its first step resolves (resolve-chain, resolve-point); the later steps rely on it. */
export interface Resolved<S> {
  /** Reading it before the resolving step set it is a bug, and throws as one. */
  state: S;
  /** Whether the resolving step got as far as setting the state. */
  readonly resolved: boolean;
}

/** A disk of a run once allocate-ports leased its port: what the later steps rely on. */
export type Leased<D> = D & { readonly port: number };

// The run's disks as the steps after allocate-ports see them: each with its port (a missing one is a bug).
export function leasedDisks<D extends { readonly key: DiskKey; readonly port?: number }>(
  disks: readonly D[],
): readonly Leased<D>[] {
  for (const disk of disks)
    if (disk.port === undefined) throw new Error(`disk ${disk.key} has no leased port: allocate-ports has not run`);
  return disks as readonly Leased<D>[];
}

// The run of a plan kind, its state to be set by the kind's resolving step.
export function unresolvedRun<C extends RunContext, S>(base: C, resolver: string): C & Resolved<S> {
  let state: S | undefined;
  return Object.defineProperties(
    { ...base },
    {
      state: {
        get() {
          if (state === undefined) throw new Error(`the run's state was read before ${resolver} resolved it`);
          return state;
        },
        set(value: S) {
          state = value;
        },
        enumerable: true,
      },
      resolved: { get: () => state !== undefined, enumerable: true },
    },
  ) as C & Resolved<S>;
}
