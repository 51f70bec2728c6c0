// The simulated vSphere as a test looks at it, apart from the runs: logged in as the plan's user
// (the simulator's own address, not the proxy's), the VM found by its inventory path.

import type { MoRef } from '../../src/vmware/soap-xml.js';
import type { VimClient } from '../../src/vmware/vim-client.js';
import type { Vcsim } from '../support/vcsim.js';

export interface VcsimLogin {
  readonly vcsim: Vcsim;
  /** The certificate's fingerprint, pinned. */
  readonly sha256: string;
  readonly username: string;
  readonly password: string;
}

export async function withVcsimClient<T>(
  login: VcsimLogin,
  use: (client: VimClient, vm: MoRef) => Promise<T>,
): Promise<T> {
  const { VimClient } = await import('../../src/vmware/vim-client.js');
  const { findVm } = await import('../../src/vmware/vm-inventory.js');
  const client = VimClient.open(login.vcsim.endpoint, { sha256: login.sha256, trustLine: () => '' });
  await client.login(login.username, login.password);
  try {
    return await use(client, (await findVm(client, login.vcsim.vmPath)).ref);
  } finally {
    await client.logout();
  }
}

/** The names of the VM's snapshots, the whole tree. */
export async function vcsimSnapshotNames(login: VcsimLogin): Promise<string[]> {
  return withVcsimClient(login, async (client, vm) => {
    const info = (await client.properties(vm, ['snapshot']))?.get('snapshot');
    return info === undefined
      ? []
      : [...info.getElementsByTagNameNS('*', 'name')].map((element) => element.textContent ?? '');
  });
}
