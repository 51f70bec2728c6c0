// The nbd source (src/source/nbd-source.ts: any NBD export, change tracking through the export's
// own qemu:dirty-bitmap context) runs the backup source conformance suite
// (./backup-source-suite.ts), against a persistent read-only qemu-nbd on a unix socket that offers
// the bitmap `cbt`, added to the image before the first backup as docs/how-it-works.md asks.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startQemuNbd, type TestNbdServer } from '../../support/qemu-nbd-server.js';
import { createDisk, keepCopy, writeDisk } from '../../support/vm-disks.js';
import { backupSourceSuite } from './backup-source-suite.js';

let image = '';
let socket = '';
let server: TestNbdServer | undefined;
let tracked = false;

const serve = async () => {
  server = await startQemuNbd({
    file: image,
    readOnly: true,
    bitmap: tracked ? 'cbt' : undefined,
    exportName: 'disk0',
    socket,
    shared: 8,
  });
};

backupSourceSuite('nbd', {
  async setup(dir) {
    image = createDisk(path.join(dir, 'disk-2000.qcow2'), 32 * 1024 * 1024);
    socket = path.join(dir, 'export.sock');
    await serve();
  },
  // Its bitmap is never reset (each incremental is cumulative): added after the guest's first data.
  async track() {
    await server?.stop();
    execFileSync('qemu-img', ['bitmap', '--add', image, 'cbt']);
    tracked = true;
    await serve();
  },
  source: (options) => ({
    type: 'nbd',
    disks: [{ key: 2000, url: options?.missing ? `nbd+unix:///gone?socket=${socket}` : server!.url, bitmap: 'cbt' }],
  }),
  // The export is read-only: the guest writes while it is down (the bitmap marks what changed).
  async write(commands) {
    await server?.stop();
    writeDisk(image, commands);
    await serve();
  },
  async current(dir) {
    await server?.stop();
    const copy = keepCopy(image, path.join(dir, 'current.qcow2'));
    await serve();
    return { file: copy, format: 'qcow2' };
  },
  missingError: /cannot open nbd\+unix:\/\/\/gone/,
  async disappear() {
    await server?.stop();
  },
  reappear: serve,
  goneError: /NBD connection to nbd\+unix:\/\/\/disk0\?socket=\S+ lost$/,
  notApplicable: {},
  async done() {
    await server?.stop();
  },
});
