// The plan's changes to a recovered or replica domain (recover.to.changes, replica.changes;
// docs/instant-recovery.md#changing-the-recovered-domain): how a network name is written, and the
// typed changes built from valid data.

import { parseMemory } from '../format/byte-size.js';
import type { RawDomainChanges } from './plan-shape.generated.js';
import type { DomainChanges, InterfaceMove, InterfaceNetwork } from './types.js';

/** Less than this is a typo, not a VM: no guest boots in it. */
export const MIN_DOMAIN_MEMORY = 64 * 1024 * 1024;

// libvirt refuses '/' in a network name and Linux an interface name over 15 bytes; we take the names
// both always accept, so a name from a plan never needs quoting anywhere.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const MAX_NETWORK = 200;
const MAX_BRIDGE = 15;

// A key or value of changes.network: NAME (a libvirt network), bridge:NAME, or (as `allowed` says) * or none.
export function parseInterfaceNetwork(text: string): InterfaceNetwork | '*' | 'none' | { readonly error: string } {
  if (text === '*' || text === 'none') return text;
  const bridge = text.startsWith('bridge:');
  const name = bridge ? text.slice('bridge:'.length) : text;
  const limit = bridge ? MAX_BRIDGE : MAX_NETWORK;
  if (!NAME.test(name))
    return {
      error: `'${text.slice(0, 60)}' is not a ${bridge ? 'bridge' : 'libvirt network'} name libvirt takes (letters, digits, '.', '_', '+' and '-', starting with a letter or digit)`,
    };
  if (name.length > limit) return { error: `'${name.slice(0, 60)}' is longer than ${limit} characters` };
  return { type: bridge ? 'bridge' : 'network', name };
}

export function describeInterfaceNetwork(network: InterfaceNetwork): string {
  return network.type === 'bridge' ? `bridge ${network.name}` : `network ${network.name}`;
}

export function buildDomainChanges(raw: RawDomainChanges | undefined): DomainChanges | undefined {
  if (raw === undefined) return undefined;
  const network: InterfaceMove[] = Object.entries(raw.network ?? {}).map(([key, value]) => ({
    from: parseInterfaceNetwork(key) as InterfaceNetwork | '*',
    to: parseInterfaceNetwork(value) as InterfaceNetwork | 'none',
  }));
  return {
    memory: raw.memory === undefined ? undefined : parseMemory(raw.memory),
    vcpus: raw.vcpus,
    network,
  };
}
