// vm.source.type vmware: a vSphere VM read from a snapshot by sendense-run's own client or by
// sendense-backup-client on the node, changes tracked by CBT (docs/vmware.md).

import { SECRET_KEY } from '../plan/checks/literal-secrets.js';
import { expandHome } from '../plan/home-path.js';
import { DEFAULT_CLIENT_PATH } from '../plan/plan-defaults.js';
import type { VmwareSource } from '../plan/types.js';
import { lazyOpen, type SourceDefinition } from './source-definition.js';
import { everyFacetOf } from './source-facets.js';

export const vmwareSourceDefinition: SourceDefinition<VmwareSource> = {
  type: 'vmware',
  build: (raw) => ({
    ...raw,
    // A plan written for the old client (clientPath, no client) keeps it (docs/vmware.md#the-old-client).
    client: raw.client ?? (raw.clientPath !== undefined ? 'sendense-backup-client' : 'sendense-run'),
    quiesce: raw.quiesce ?? false,
    cbt: raw.cbt ?? 'require',
    // Stored as Node prints a fingerprint (docs/vmware.md#the-certificate).
    ...(raw.certificateSha256 === undefined ? {} : { certificateSha256: raw.certificateSha256.toUpperCase() }),
    passwordFile: raw.passwordFile === undefined ? undefined : expandHome(raw.passwordFile),
    clientPath: raw.clientPath ?? DEFAULT_CLIENT_PATH,
  }),
  checks: (source, { issues }) => {
    const hasEnv = source.passwordEnv !== undefined;
    const hasFile = source.passwordFile !== undefined;
    if (hasEnv && hasFile)
      issues.error(['vm', 'source', 'passwordFile'], 'vm.source: give passwordEnv or passwordFile, not both', 'key');
    // A literal password was already reported: that is the one mistake to fix.
    const literal = Object.keys(source).some((key) => SECRET_KEY.test(key));
    if (!hasEnv && !hasFile && !literal)
      issues.error(
        ['vm', 'source'],
        'vm.source: missing passwordEnv (name of an environment variable holding the password) or passwordFile',
        'key',
      );
    // A plan written for the old client (clientPath) keeps it; asking for both is a contradiction (docs/vmware.md#the-old-client).
    if (source.clientPath !== undefined && source.client === 'sendense-run') {
      issues.error(
        ['vm', 'source', 'clientPath'],
        'vm.source.clientPath is for the old client (client: sendense-backup-client), but client is sendense-run: remove clientPath to let sendense-run read the VM, or say client: sendense-backup-client',
        'key',
      );
    }
  },
  declared: () => [],
  notReplicable:
    'vm.source.type: a vmware source cannot be replicated yet (sendense-backup-client writes only to the hub); replicate a libvirt, qemu or nbd source',
  capabilities: { hasLibvirtDomain: false, namesImageFiles: false, tracksChangesInImageFiles: false },
  // Written as one object: it offers every facet.
  ...lazyOpen('vmware', async () => {
    const { vmwareSource } = await import('./vmware-source.js');
    return (source) => everyFacetOf(vmwareSource(source));
  }),
};
