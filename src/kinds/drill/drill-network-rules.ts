// drill (docs/drills.md#the-isolated-network): a tcp check probes from the drill's namespace, so it
// needs isolation.network: isolated and a probe address there; the guest's address is in the
// probe's subnet and is not the probe's own; a probe address without the isolated network is
// refused rather than ignored.

import { isObject, listAt, stringAt, valueAt } from '../../plan/raw-plan.js';
import type { CheckContext } from '../../plan/checks/check-context.js';

export function checkDrillNetworkRules({ data, issues }: CheckContext): void {
  const network = stringAt(data, 'drill', 'isolation', 'network') ?? 'none';
  const probe = stringAt(data, 'drill', 'isolation', 'probe');
  const subnet = probe === undefined ? undefined : parseCidr(probe);
  if (probe !== undefined && subnet === undefined)
    issues.error(
      ['drill', 'isolation', 'probe'],
      `drill.isolation.probe: not an IPv4 address with a prefix length, such as 192.168.122.250/24 (got '${probe}')`,
    );
  if (probe !== undefined && network !== 'isolated')
    issues.error(
      ['drill', 'isolation', 'probe'],
      'drill.isolation.probe: only with isolation.network: isolated (a drill without a network probes nothing)',
    );
  listAt(data, 'drill', 'checks').forEach((check, index) => {
    const tcp = isObject(check) ? check.tcp : undefined;
    if (!isObject(tcp)) return;
    const where = ['drill', 'checks', index, 'tcp'];
    if (network !== 'isolated' || probe === undefined) {
      issues.error(
        where,
        `drill.checks[${index}].tcp: needs isolation: { network: isolated, probe: ADDRESS/PREFIX } (it probes from the drill's own namespace, never from the host)`,
      );
      return;
    }
    const address = valueAt(tcp, 'address');
    if (typeof address !== 'string' || subnet === undefined) return;
    const guest = parseAddress(address);
    if (guest === undefined)
      issues.error([...where, 'address'], `drill.checks[${index}].tcp.address: not an IPv4 address (got '${address}')`);
    else if (guest === subnet.address)
      issues.error(
        [...where, 'address'],
        `drill.checks[${index}].tcp.address: ${address} is the probe's own address (isolation.probe)`,
      );
    else if (((guest ^ subnet.address) & subnet.mask) !== 0)
      issues.error(
        [...where, 'address'],
        `drill.checks[${index}].tcp.address: ${address} is not in the probe's subnet ${probe} (the bridge has no router)`,
      );
  });
}

// An IPv4 address as an unsigned 32-bit number; undefined when it is not one.
function parseAddress(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((part) => !/^\d{1,3}$/.test(part) || Number(part) > 255)) return undefined;
  return parts.reduce((value, part) => value * 256 + Number(part), 0) >>> 0;
}

function parseCidr(text: string): { address: number; mask: number } | undefined {
  const [address, prefix, ...rest] = text.split('/');
  const parsed = parseAddress(address ?? '');
  const bits = Number(prefix);
  if (parsed === undefined || rest.length > 0 || !/^\d{1,2}$/.test(prefix ?? '') || bits < 1 || bits > 30)
    return undefined;
  return { address: parsed, mask: (0xffffffff << (32 - bits)) >>> 0 };
}
