// Every type of copy target (copy.to.type), one module each: a new one is a file here and a line
// in COPY_TARGETS (docs/copies.md).

import type { NodeHost } from '../../node/node.js';
import type { CopyTo } from '../../plan/types.js';
import type { CopyTargetFacts } from '../copy-target.js';
import type {
  CopyTargetDefinition,
  CopyToCapabilities,
  CopyToCapability,
  OpenedCopyTarget,
  RawCopyTo,
} from './copy-target-definition.js';
import { dirCopyTargetDefinition } from './dir.js';
import { s3CopyTargetDefinition } from './s3.js';
import { sshCopyTargetDefinition } from './ssh.js';

export type { OpenedCopyTarget, RawCopyTo } from './copy-target-definition.js';

const COPY_TARGETS: { readonly [T in CopyTo['type']]: CopyTargetDefinition<Extract<CopyTo, { type: T }>> } = {
  ssh: sshCopyTargetDefinition,
  s3: s3CopyTargetDefinition,
  dir: dirCopyTargetDefinition,
};

function definitionOf<To extends CopyTo>(to: To): CopyTargetDefinition<To> {
  return COPY_TARGETS[to.type] as unknown as CopyTargetDefinition<To>;
}

export function buildCopyTo(raw: RawCopyTo): CopyTo {
  return (COPY_TARGETS[raw.type] as CopyTargetDefinition).build(raw);
}

/** The copy for messages, "sendense@offsite1:22:/backup/offsite" or "s3://offsite/pgtest1 at https://…", without contacting it. */
export function describeCopyTo(to: CopyTo): string {
  return definitionOf(to).describe(to);
}

/** validate: what a type of copy target checks of copy.to (undefined: no such type). */
export function copyToPlanChecks(
  type: string,
): Pick<CopyTargetDefinition, 'checks' | 'encryptedRetention'> | undefined {
  return Object.hasOwn(COPY_TARGETS, type) ? (COPY_TARGETS[type as CopyTo['type']] as CopyTargetDefinition) : undefined;
}

/** What a copy's type of target offers by the name of a capability (CopyToCapabilities); undefined: it offers none. */
export function copyToCapability<K extends keyof CopyToCapabilities>(
  to: CopyTo,
  name: K,
): CopyToCapability<K> | undefined {
  const capability = definitionOf(to).capabilities?.[name] as ((to: CopyTo) => CopyToCapability<K>) | undefined;
  return capability?.(to);
}

export function openCopyTarget(to: CopyTo, say: (message: string) => void): Promise<OpenedCopyTarget> {
  return definitionOf(to).open(to, say);
}

/** doctor: the definition of the target a record names (records of older runs name none: s3 by `s3`, else ssh). */
export function copyTargetOfFacts(facts: CopyTargetFacts): RecordedCopyTarget {
  const definition = COPY_TARGETS[facts.target ?? (facts.s3 !== undefined ? 's3' : 'ssh')] as CopyTargetDefinition;
  return {
    onNode: definition.onNode,
    leftBehind: definition.leftBehind,
    description: () => definition.describeRecord(facts),
    reopen: (host) => definition.reopen(facts, host),
  };
}

/** doctor's view of the copy target a record names. */
export interface RecordedCopyTarget extends Pick<CopyTargetDefinition, 'onNode' | 'leftBehind'> {
  description(): string;
  reopen(host: NodeHost | undefined): Promise<OpenedCopyTarget>;
}
