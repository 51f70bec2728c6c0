// The VMware source read by sendense-backup-client (src/source/vmware-source.ts, client:
// sendense-backup-client) runs the backup source conformance suite (./backup-source-suite.ts).
// There is no vCenter here: the client is a FAKE (test/fixtures/fake-sendense-backup-client.mjs)
// with the real client's command line, playing the VM from qcow2 files and CBT with QEMU dirty
// bitmaps. Real: the engine, the NBD targets it writes, the chain, the checks.

import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createDisk, keepCopy, writeDisk } from '../../support/vm-disks.js';
import { backupSourceSuite } from './backup-source-suite.js';

const PASSWORD = 'Vc-pa55 word!with$pecial';
let vmDir = '';
const image = () => path.join(vmDir, 'disk-2000.qcow2');

backupSourceSuite('vmware-fake-client', {
  async setup(dir) {
    vmDir = path.join(dir, 'vmware-vm');
    mkdirSync(vmDir);
    createDisk(image(), 32 * 1024 * 1024);
  },
  source: (options) => ({
    type: 'vmware',
    client: 'sendense-backup-client',
    endpoint: 'vcenter.example.test',
    username: 'backup@vsphere.local',
    passwordEnv: 'TEST_VCENTER_PASSWORD',
    path: vmDir,
    clientPath: path.resolve('test/fixtures/fake-sendense-backup-client.mjs'),
    disks: [{ key: options?.missing ? 2099 : 2000 }],
  }),
  env: {
    TEST_VCENTER_PASSWORD: PASSWORD,
    FAKE_VCENTER_PASSWORD_SHA256: createHash('sha256').update(PASSWORD).digest('hex'),
  },
  async write(commands) {
    writeDisk(image(), commands);
  },
  async current(dir) {
    return { file: keepCopy(image(), path.join(dir, 'current.qcow2')), format: 'qcow2' };
  },
  missingError: /disk 2099: the VM has no disk with key 2099/,
  notApplicable: {
    'disappears mid-way': 'the fake client plays the VM from local qcow2 files: it has no connection to lose',
  },
});
