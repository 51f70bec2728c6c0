// A restore's new libvirt domain (docs/how-it-works.md#a-restore-as-a-new-libvirt-domain): recorded
// as a node resource before its files are renamed into place, forgotten when the run ends. After a
// kill, doctor gives it back as a failed run's undo does (the domain undefined, the files deleted),
// unless the domain has run since: then the domain and its files are the user's, and stay.

import { SendenseError } from '../errors.js';
import { NO_SUCH_DOMAIN, virshMessage, virshOn, type NodeExec } from './virsh.js';

// The node resource doctor gives a killed restore's domain back by (src/doctor/resources/other-resources.ts).
export const RESTORED_DOMAIN_RESOURCE = 'restored-domain';

/** What the resource records: the domain, where libvirt is, and the files the run places. */
export interface RestoredDomainFacts {
  readonly domain: string;
  readonly uri: string;
  /** Each disk's file in place (renamed from its partial file): none existed before the run. */
  readonly files: readonly string[];
}

// `virsh domstate --reason` of a defined domain that has never run ('unknown'), or whose start failed.
const NEVER_RAN = /^shut off \((unknown|failed)\)$/;

/** Where a killed restore's domain stands: not defined, defined and never run, or run since (said). */
export type RestoredDomainState =
  { readonly is: 'absent' | 'never-ran' } | { readonly is: 'ran'; readonly state: string };

export async function restoredDomainState(exec: NodeExec, facts: RestoredDomainFacts): Promise<RestoredDomainState> {
  const state = await virshOn(exec, facts.uri).attempt(['domstate', '--reason', facts.domain]);
  if (state.exitCode === 0) {
    const said = state.stdout.trim();
    return NEVER_RAN.test(said) ? { is: 'never-ran' } : { is: 'ran', state: said };
  }
  const message = virshMessage(state);
  if (NO_SUCH_DOMAIN.test(message)) return { is: 'absent' };
  throw new SendenseError(`cannot ask libvirt at ${facts.uri} for domain ${facts.domain}: ${message}`);
}

/** As a failed run's undo: the domain undefined (when `defined`), its files deleted. */
export async function removeRestoredDomain(
  exec: NodeExec,
  facts: RestoredDomainFacts,
  defined: boolean,
): Promise<void> {
  if (defined) await virshOn(exec, facts.uri).run(['undefine', facts.domain], `undefine domain ${facts.domain}`);
  if (facts.files.length === 0) return;
  const removed = await exec(['rm', '-f', '--', ...facts.files]);
  if (removed.exitCode !== 0)
    throw new SendenseError(`cannot delete ${facts.files.join(', ')}: ${removed.stderr.trim()}`);
}
