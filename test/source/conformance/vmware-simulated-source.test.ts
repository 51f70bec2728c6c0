// The VMware source read by sendense-run itself (src/source/vmware-reader-source.ts) runs the
// backup source conformance suite (./backup-source-suite.ts) against a SIMULATED vSphere: govmomi's
// vcsim (test/support/vcsim.ts) behind the proxy that fakes changed block tracking
// (test/support/vsphere-cbt-proxy.ts). Real: our vSphere client, TLS with a pinned fingerprint, the
// datastore's HTTPS file access, the node transfer, the chain. Faked: VMware itself and CBT.
// The guest writes into the disk's flat file in the simulator's datastore. Gone mid-way: the
// proxy cuts the datastore's file access under the read, the API answering still (a host whose
// datastore went away), so the run's cleanup gives its snapshot back.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildVcsimFirst, makeCertificate, startVcsim, vcsimMissing, type Vcsim } from '../../support/vcsim.js';
import { startCbtProxy, type CbtProxy } from '../../support/vsphere-cbt-proxy.js';
import { keepCopy, writeDisk } from '../../support/vm-disks.js';
import { backupSourceSuite } from './backup-source-suite.js';

const USER = 'backup@vsphere.local';
const PASSWORD = 'Vc-sim pa55!word$';
let certDir = '';
let sha256 = '';
let vcsim: Vcsim | undefined;
let proxy: CbtProxy | undefined;
const flat = () => vcsim!.disks.find((disk) => disk.key === 2000)!.flat;

buildVcsimFirst();

backupSourceSuite('vmware-simulated', {
  async setup() {
    const missing = vcsimMissing();
    if (missing !== undefined)
      throw new Error(
        `the simulated vSphere needs Go and govmomi's source: ${missing} (scripts/setup.sh installs them)`,
      );
    certDir = mkdtempSync(path.join(tmpdir(), 'source-suite-vmware-cert-'));
    const cert = makeCertificate(certDir);
    sha256 = cert.sha256;
    const disks = new Map([[2000, 32 * 1024 * 1024]]);
    vcsim = await startVcsim({ cert: cert.cert, key: cert.key, username: USER, password: PASSWORD, disks });
    proxy = await startCbtProxy(vcsim.endpoint, cert.cert, cert.key, vcsim.disks);
  },
  source: (options) => ({
    type: 'vmware',
    endpoint: proxy!.endpoint,
    username: USER,
    passwordEnv: 'TEST_VCENTER_PASSWORD',
    path: vcsim!.vmPath,
    certificateSha256: sha256,
    disks: [{ key: options?.missing ? 2099 : 2000 }],
  }),
  env: { TEST_VCENTER_PASSWORD: PASSWORD },
  async write(commands) {
    writeDisk(flat(), commands, 'raw');
  },
  async current(dir) {
    return { file: keepCopy(flat(), path.join(dir, 'current.raw')), format: 'raw' };
  },
  // The snapshots vSphere holds of the VM: a run removes the one it made.
  async held() {
    const { VimClient } = await import('../../../src/vmware/vim-client.js');
    const { findVm } = await import('../../../src/vmware/vm-inventory.js');
    const client = VimClient.open(vcsim!.endpoint, { sha256, trustLine: () => '' });
    try {
      await client.login(USER, PASSWORD);
      const vm = await findVm(client, vcsim!.vmPath);
      const info = (await client.properties(vm.ref, ['snapshot']))?.get('snapshot');
      return info === undefined
        ? []
        : [...info.getElementsByTagNameNS('*', 'name')].map((element) => `snapshot ${element.textContent ?? ''}`);
    } finally {
      await client.logout();
    }
  },
  missingError: /2099/,
  // The datastore's files go away under the read (the API stays: the run gives its snapshot back).
  async disappear() {
    proxy!.cutFiles(true);
  },
  async reappear() {
    proxy!.cutFiles(false);
  },
  goneError:
    /^step transfer, disk 2000: reading bytes=\d+-\d+ from 127\.0\.0\.1:\d+: (socket hang up|read ECONNRESET)$/,
  notApplicable: {},
  async done() {
    await proxy?.close();
    await vcsim?.stop();
    rmSync(certDir, { recursive: true, force: true });
  },
});
