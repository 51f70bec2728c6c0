// What every doctor sweeper is and gets: one sweeper per kind of thing a killed run leaves behind
// (docs/how-it-works.md, "The data path" and "What is recorded, and where"), listed in ./index.ts.

import type { NodeHost } from '../node/node.js';
import type { Run, Store } from '../store/index.js';

// One thing doctor found: what it is, what doctor did (or would do) about it, and whether that worked.
export interface Finding {
  readonly what: string;
  readonly action: string;
  readonly ok: boolean;
}

/** What doctor removes only when asked (docs/commands.md#doctor): it may be someone's on purpose. */
export interface DoctorConsent {
  /** --remove-orphaned-checkpoints: sendense-run's checkpoints no chain continues from. */
  readonly removeOrphanedCheckpoints: boolean;
}

export const NO_CONSENT: DoctorConsent = Object.freeze({ removeOrphanedCheckpoints: false });

export interface DoctorContext {
  readonly store: Store;
  /** --db: the owner tag of this database's children (process/owner-tag.ts). */
  readonly stateDatabase: string;
  readonly here: string;
  readonly local: NodeHost;
  /** Runs of this host still marked running whose process is gone, by id. */
  readonly deadRuns: ReadonlyMap<string, Run>;
  /** False for a run that is over or whose process died; asks again for a run started since doctor began. */
  isLive(runId: string): Promise<boolean>;
  /** Runs whose qemu-nbd and ports stay: a running recovered domain still reads the point they serve (./recoveries.ts). */
  readonly kept: Set<string>;
  readonly consent: DoctorConsent;
  /** A finding doctor cleans: `action` in the imperative ("remove it"), `work` skipped by --dry-run. */
  act(what: string, action: string, work: () => Promise<unknown>): Promise<void>;
  /**
   * A finding doctor leaves alone (another host's, a live mount's), with what to do about it;
   * `ok` false when leaving it is a failure to clean (exit 1: an encrypted merge without its key).
   */
  report(what: string, action: string, ok?: boolean): void;
}

export interface Sweeper {
  readonly name: string;
  /** The state-database tables whose rows it gives back (none: it finds its things elsewhere). */
  readonly tables: readonly string[];
  sweep(doctor: DoctorContext): Promise<void>;
}
