// vm.source.type nbd: disks an NBD server exports, changes tracked by its dirty bitmap when it
// offers one (docs/how-it-works.md#change-tracking-by-source).

import type { NbdSource } from '../plan/types.js';
import { nbdSource } from './nbd-source.js';
import type { SourceDefinition } from './source-definition.js';
import { everyFacetOf } from './source-facets.js';

export const nbdSourceDefinition: SourceDefinition<NbdSource> = {
  type: 'nbd',
  build: (raw) => raw,
  declared: () => [],
  untrackedDisk: (disk, i) =>
    disk.bitmap !== undefined
      ? undefined
      : {
          path: ['vm', 'source', 'disks', i],
          message: `vm.source.disks[${i}]: no bitmap, so every backup of disk ${String(disk.key)} is a full copy`,
        },
  capabilities: { hasLibvirtDomain: false, namesImageFiles: false, tracksChangesInImageFiles: false },
  // Written as one object: it offers every facet.
  open: (source) => everyFacetOf(nbdSource(source)),
};
