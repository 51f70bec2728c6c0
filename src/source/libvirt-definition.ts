// vm.source.type libvirt: a domain on the node, read live from its backup job, changes tracked by
// its checkpoints (docs/how-it-works.md#change-tracking-by-source).

import { DEFAULT_LIBVIRT_SCRATCH, DEFAULT_LIBVIRT_URI } from '../plan/plan-defaults.js';
import type { LibvirtSource } from '../plan/types.js';
import { lazyOpen, type SourceDefinition } from './source-definition.js';

export const libvirtSourceDefinition: SourceDefinition<LibvirtSource> = {
  type: 'libvirt',
  build: (raw, vmName) => ({
    type: 'libvirt',
    domain: raw.domain ?? vmName,
    uri: raw.uri ?? DEFAULT_LIBVIRT_URI,
    quiesce: raw.quiesce ?? 'auto',
    scratch: raw.scratch ?? DEFAULT_LIBVIRT_SCRATCH,
    disks: raw.disks ?? [],
  }),
  declared: (source, vm, host) => {
    const domain = typeof source.domain === 'string' ? source.domain : vm;
    const uri = typeof source.uri === 'string' ? source.uri : 'qemu:///system';
    return [
      {
        key: `${host}\0${uri}\0domain\0${domain}`,
        what: `libvirt domain ${domain} on ${host}`,
        vm,
        ...(source.domain === undefined
          ? { path: ['vm', 'name'], where: 'vm.name' }
          : { path: ['vm', 'source', 'domain'], where: 'vm.source.domain' }),
      },
    ];
  },
  capabilities: { hasLibvirtDomain: true, namesImageFiles: false, tracksChangesInImageFiles: false },
  ...lazyOpen('libvirt', async () => (await import('./libvirt-source.js')).libvirtSource),
};
