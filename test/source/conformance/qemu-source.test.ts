// The qemu source (src/source/qemu-source.ts: image files nobody else writes, change tracking by
// QEMU dirty bitmaps) runs the backup source conformance suite (./backup-source-suite.ts).

import path from 'node:path';
import { createDisk, keepCopy, writeDisk } from '../../support/vm-disks.js';
import { backupSourceSuite } from './backup-source-suite.js';

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
