// One kind of recovery resource (docs/commands.md#doctor): what a run records before it
// takes something on a node, a copy's target or a bucket, so doctor can give it back after a kill.
// Each kind says its name, its place in the order they are given back in, how it reads in
// doctor's report and how it is given back; ./index.ts lists them and doctor iterates.

import type { NodeHost } from '../../node/node.js';
import type { NodeResource } from '../../store/index.js';
import type { DoctorContext } from '../sweeper.js';

export interface GiveBack {
  readonly doctor: DoctorContext;
  /** The node it is on, reached again as the run reached it. */
  readonly host: NodeHost;
  readonly resource: NodeResource;
  /** What doctor's report says of it (describe, with its node and run). */
  readonly what: string;
  /** Its record, forgotten once it is given back. */
  forget(): Promise<void>;
}

export interface RecoveryResourceKind {
  readonly kind: string;
  /** Given back before every kind of a larger rank (see ./index.ts for why each stands where it does). */
  readonly rank: number;
  /** Given back by doctor even while its run is alive: a cache no command needs (a files session). */
  readonly whileRunning?: boolean;
  /** Reached without a node (a bucket): given back through its own connection, before the nodes'. */
  readonly reachesItself?: (resource: NodeResource) => boolean;
  describe(resource: NodeResource): string;
  giveBack(context: GiveBack): Promise<void>;
}
