// Before a recovered or replica domain is made (docs/instant-recovery.md#changing-the-recovered-domain):
// every network and bridge the plan's changes move an interface onto is there on the node.

import type { DomainChanges, InterfaceNetwork } from '../plan/types.js';
import { virshMessage, type NodeExec, type Virsh } from './virsh.js';

/** What is missing, in one sentence, or undefined. `active`: the domain starts now, so a network must run. */
export async function missingNetwork(
  virsh: Virsh,
  exec: NodeExec,
  changes: DomainChanges | undefined,
  active: boolean,
  where: string,
): Promise<string | undefined> {
  const targets = (changes?.network ?? []).flatMap(({ to }) => (to === 'none' ? [] : [to]));
  const seen = new Set<string>();
  for (const target of targets) {
    const id = `${target.type}:${target.name}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const problem = await missing(virsh, exec, target, active, where);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

async function missing(
  virsh: Virsh,
  exec: NodeExec,
  target: InterfaceNetwork,
  active: boolean,
  where: string,
): Promise<string | undefined> {
  if (target.type === 'bridge') {
    const bridge = await exec(['test', '-d', `/sys/class/net/${target.name}/bridge`]);
    return bridge.exitCode === 0 ? undefined : `there is no bridge ${target.name} on ${where}`;
  }
  const info = await virsh.attempt(['net-info', target.name]);
  if (info.exitCode !== 0)
    return `libvirt network ${target.name} does not exist on ${where} (${virshMessage(info)}; virsh net-list --all lists them)`;
  if (active && !/^Active:\s+yes\s*$/m.test(info.stdout))
    return `libvirt network ${target.name} on ${where} is not active: start it first (virsh net-start ${target.name})`;
  return undefined;
}
