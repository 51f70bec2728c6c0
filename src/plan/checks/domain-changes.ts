// recover.to.changes and replica.changes (docs/instant-recovery.md#changing-the-recovered-domain):
// what the schema cannot judge. A memory below the floor, a network key or value libvirt would refuse.

import { parseMemory } from '../../format/byte-size.js';
import { MIN_DOMAIN_MEMORY, parseInterfaceNetwork } from '../domain-changes.js';
import { hasEnvRef } from '../env-refs.js';
import { isObject, stringAt, valueAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

const VALUE = /^(none|(bridge:)?[A-Za-z0-9][A-Za-z0-9._+-]*)$/;

export function checkDomainChanges(
  { data, issues }: Pick<CheckContext, 'data' | 'issues'>,
  at: readonly string[],
): void {
  const where = at.join('.');
  const memory = stringAt(data, ...at, 'memory');
  if (memory !== undefined && !hasEnvRef(memory)) {
    const bytes = parseMemory(memory);
    if (bytes === undefined)
      issues.error([...at, 'memory'], `${where}.memory: must be a size like 2GiB or 512MiB (got '${memory}')`);
    else if (bytes < MIN_DOMAIN_MEMORY)
      issues.error(
        [...at, 'memory'],
        `${where}.memory: ${memory} is below ${MIN_DOMAIN_MEMORY / 1024 / 1024}MiB, the least a domain is given`,
      );
  }
  const network = valueAt(data, ...at, 'network');
  if (!isObject(network)) return;
  for (const [key, value] of Object.entries(network)) {
    const from = parseInterfaceNetwork(key);
    if (from === 'none') {
      issues.error([...at, 'network', key], `${where}.network: 'none' is not a network the original can be on`, 'key');
      continue;
    }
    if (typeof from === 'object' && 'error' in from) {
      issues.error([...at, 'network', key], `${where}.network: key ${from.error}`, 'key');
      continue;
    }
    // The schema's pattern judges the characters of a value; only its length is left here.
    if (typeof value !== 'string' || hasEnvRef(value) || !VALUE.test(value)) continue;
    const to = parseInterfaceNetwork(value);
    if (to === '*') issues.error([...at, 'network', key], `${where}.network.${key}: '*' is no network to move to`);
    else if (typeof to === 'object' && 'error' in to)
      issues.error([...at, 'network', key], `${where}.network.${key}: ${to.error}`);
  }
}
