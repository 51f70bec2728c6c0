// What the rest of the program knows of a type of copy target (copy.to.type): how it is built from
// the plan, named, reached, and reached again by doctor. One module each beside this file, listed
// in ./index.ts; nothing else asks which type a copy is.

import type { NodeHost } from '../../node/node.js';
import type { RawCopy } from '../../plan/plan-shape.generated.js';
import type { CopyTo, S3CopyTo } from '../../plan/types.js';
import type { CopyTarget, CopyTargetFacts } from '../copy-target.js';
import type { CopyToChecks } from './plan-checks.js';

/** A target reached, and how to let it go (its SSH link, its client). */
export interface OpenedCopyTarget {
  readonly target: CopyTarget;
  close(): Promise<void>;
}

export interface CopyTargetDefinition<To extends CopyTo = CopyTo> {
  /** copy.to as the schema guarantees it, built into the plan's settings. */
  build(raw: Extract<RawCopyTo, { readonly type: To['type'] }>): To;
  /** For messages, without contacting it (a dry run contacts nothing). */
  describe(to: To): string;
  /** Reached (its host key checked, its keys read); `say` hears what a run should tell. */
  open(to: To, say: (message: string) => void): Promise<OpenedCopyTarget>;
  /**
   * doctor: what a run left there is on a node doctor reaches from the record (`nodeSpec`, or this
   * host): given back there with `host`; false: the target reaches itself (a bucket).
   */
  readonly onNode: boolean;
  /** doctor: reached again from what a run recorded; `host`: the node doctor reached, when onNode. */
  reopen(facts: CopyTargetFacts, host: NodeHost | undefined): Promise<OpenedCopyTarget>;
  /** doctor: the target as a record names it, for messages. */
  describeRecord(facts: CopyTargetFacts): string;
  /** doctor: what a put killed half-way leaves there ("partial file"), and what removing it is ("remove it"). */
  readonly leftBehind: { readonly what: string; readonly removal: string };
  /** validate: what is checked of copy.to beyond the schema (./plan-checks.ts). */
  readonly checks?: CopyToChecks;
  /** validate: why an encrypted repository's copy of this type takes no copy.retention (the rest of the message). */
  readonly encryptedRetention: string;
  /** What only some types of target offer before one is reached, by name (copyToCapability in ./index.ts). */
  readonly capabilities?: CopyToCapabilities<To>;
}

/**
 * What only some types of copy target offer a command, asked for by name: the command refuses a
 * copy whose target offers none. Each gives the target's settings as the command reads them.
 */
export interface CopyToCapabilities<To extends CopyTo = CopyTo> {
  /** Its objects brought back into a directory of the hub, or read straight from it (fetch, docs/copies.md#restoring-from-a-bucket). */
  fetch?(to: To): S3CopyTo;
}

/** What a target's type gives for a capability. */
export type CopyToCapability<K extends keyof CopyToCapabilities> = ReturnType<NonNullable<CopyToCapabilities[K]>>;

/** copy.to as the plan schema guarantees it. */
export type RawCopyTo = RawCopy['to'];
