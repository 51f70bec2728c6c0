// What libvirt says of a domain now, to a failback deciding whether it may go on.

import type { Virsh } from '../libvirt/virsh.js';

// "shut off", "running", …; undefined when no such domain.
export async function domainState(virsh: Virsh, domain: string): Promise<string | undefined> {
  const state = await virsh.attempt(['domstate', domain]);
  return state.exitCode === 0 ? state.stdout.trim() : undefined;
}
