// A logged-in vSphere session for a plan's VMware source (docs/vmware.md): the password read on
// the hub as for the old client, the certificate pinned by the plan's fingerprint.

import type { VmwareSource } from '../plan/types.js';
import { vmwarePassword } from '../source/vmware-client.js';
import type { CertificatePin } from './pinned-agent.js';
import { VimClient } from './vim-client.js';

/** The plan's pin, and the line that trusts another fingerprint. */
export function planPin(source: Pick<VmwareSource, 'certificateSha256'>): CertificatePin {
  return {
    sha256: source.certificateSha256,
    trustLine: (fingerprint) => `vm.source.certificateSha256: "${fingerprint}"`,
  };
}

export async function openSession(source: VmwareSource): Promise<VimClient> {
  const client = VimClient.open(source.endpoint, planPin(source));
  try {
    await client.login(source.username, vmwarePassword(source));
  } catch (error) {
    await client.logout();
    throw error;
  }
  return client;
}
