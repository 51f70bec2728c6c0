// vm.source.type qemu: qcow2 or raw image files on the node, read while the VM is off (or by
// qemu-nbd -U), changes tracked in persistent bitmaps of the images (docs/how-it-works.md#change-tracking-by-source).

import type { QemuSource } from '../plan/types.js';
import { qemuSource } from './qemu-source.js';
import type { SourceDefinition } from './source-definition.js';

export const qemuSourceDefinition: SourceDefinition<QemuSource> = {
  type: 'qemu',
  build: (raw) => raw,
  declared: (source, vm, host) =>
    (Array.isArray(source.disks) ? source.disks : []).flatMap((disk: unknown, index: number) => {
      const file = (disk as { path?: unknown } | null)?.path;
      if (typeof file !== 'string' || file === '') return [];
      return [
        {
          key: `${host}\0image\0${file}`,
          what: `disk image ${file} on ${host}`,
          vm,
          path: ['vm', 'source', 'disks', index, 'path'],
          where: `vm.source.disks[${index}].path`,
        },
      ];
    }),
  untrackedDisk: (disk, i) =>
    disk.format !== 'raw'
      ? undefined
      : {
          path: ['vm', 'source', 'disks', i, 'format'],
          message: `vm.source.disks[${i}].format: raw images have no dirty bitmaps, so every backup of disk ${String(disk.key)} is a full copy`,
        },
  capabilities: { hasLibvirtDomain: false, namesImageFiles: true, tracksChangesInImageFiles: true },
  open: qemuSource,
};
