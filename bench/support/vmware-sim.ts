// What bench/vmware.js needs of the tests' simulated vSphere (VMware itself FAKED: govmomi's
// vcsim behind the CBT proxy) and of our own vSphere client, bundled into one module for Node.js.
import { VimClient } from '../../src/vmware/vim-client.js';
import { datastoreUrl } from '../../src/vmware/vm-inventory.js';

export { makeCertificate, startVcsim, vcsimMissing } from '../../test/support/vcsim.js';
export { startCbtProxy } from '../../test/support/vsphere-cbt-proxy.js';
export { datastoreUrl };

/** A vSphere session of its own, for curl's requests: its cookie header value (a secret: kept in a 0600 file). */
export async function openSession(
  endpoint: string,
  sha256: string,
  user: string,
  password: string,
): Promise<{ readonly cookie: string; close(): Promise<void> }> {
  const client = VimClient.open(endpoint, { sha256, trustLine: () => '' });
  await client.login(user, password);
  const cookie = client.sessionCookie;
  if (cookie === undefined) throw new Error('the simulated vSphere answered Login without a session cookie');
  return { cookie, close: () => client.logout() };
}
