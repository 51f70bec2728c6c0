// Every checkpoint on a domain, ours and other tools', as libvirt describes it
// (docs/how-it-works.md#checkpoints-on-a-domain): its name, when it was made, who made it.

import { DOMParser } from '@xmldom/xmldom';
import { checkpointDescription, checkpointMaker } from './checkpoints.js';
import { firstChild } from './domain-xml.js';
import type { Virsh } from './virsh.js';

export interface DomainCheckpoint {
  readonly name: string;
  /** When libvirt says it was made (ISO-8601 UTC), if it says. */
  readonly createdAt: string | null;
  /** A run of ours (runId null: an older version's, which named none); undefined: another tool's. */
  readonly madeBy: { readonly runId: string | null } | undefined;
}

export async function listDomainCheckpoints(virsh: Virsh, domain: string): Promise<readonly DomainCheckpoint[]> {
  const names = (await virsh.run(['checkpoint-list', domain, '--name'], `list the checkpoints of domain ${domain}`))
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const checkpoints: DomainCheckpoint[] = [];
  for (const name of names) {
    const xml = await virsh.run(
      ['checkpoint-dumpxml', domain, name, '--no-domain'],
      `read checkpoint ${name} of domain ${domain}`,
    );
    checkpoints.push(
      Object.freeze({
        name,
        createdAt: creationTime(xml),
        madeBy: checkpointMaker(name, checkpointDescription(xml)),
      }),
    );
  }
  // Oldest first (libvirt lists them in no set order); the same second: by name.
  const time = (each: DomainCheckpoint) => each.createdAt ?? '';
  return Object.freeze(checkpoints.sort((a, b) => time(a).localeCompare(time(b)) || a.name.localeCompare(b.name)));
}

// <creationTime> is Unix seconds.
function creationTime(xml: string): string | null {
  const root = new DOMParser({ onError: () => undefined }).parseFromString(xml, 'text/xml').documentElement;
  const seconds = Number((root ? firstChild(root, 'creationTime')?.textContent : undefined)?.trim());
  return Number.isFinite(seconds) && seconds > 0 ? new Date(seconds * 1000).toISOString() : null;
}
