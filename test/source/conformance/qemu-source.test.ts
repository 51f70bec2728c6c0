// The qemu source (src/source/qemu-source.ts: image files nobody else writes, change tracking by
// QEMU dirty bitmaps) runs the backup source conformance suite (./backup-source-suite.ts) and
// the source definition suite (./source-definition-suite.ts).

import path from 'node:path';
import { createDisk, keepCopy, writeDisk } from '../../support/vm-disks.js';
import { backupSourceSuite } from './backup-source-suite.js';
import { sourceDefinitionSuite } from './source-definition-suite.js';

let image = '';

backupSourceSuite('qemu', {
  async setup(dir) {
    image = createDisk(path.join(dir, 'disk-2000.qcow2'), 32 * 1024 * 1024);
  },
  source: (options) => ({
    type: 'qemu',
    disks: [{ key: 2000, path: options?.missing ? `${image}.gone` : image }],
  }),
  async write(commands) {
    writeDisk(image, commands);
  },
  // No process has the image open between runs: a sparse copy is the guest's disk as it is.
  async current(dir) {
    return { file: keepCopy(image, path.join(dir, 'current.qcow2')), format: 'qcow2' };
  },
  missingError: /disk-2000\.qcow2\.gone/,
  notApplicable: {
    'disappears mid-way':
      'an image file removed while it is read stays readable until its reader closes it (POSIX), so a qemu source cannot go away mid-way',
  },
});

let planned = '';
sourceDefinitionSuite('qemu', {
  async setup(dir) {
    planned = createDisk(path.join(dir, 'planned-2000.qcow2'), 8 * 1024 * 1024);
  },
  source: () => ({ type: 'qemu', disks: [{ key: 2000, path: planned }] }),
  unknownKey: 'file',
  capabilities: ['namesImageFiles', 'tracksChangesInImageFiles'],
  dryRead: /disk 2000: \S+planned-2000\.qcow2/,
});
