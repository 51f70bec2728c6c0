// The NBD target (src/restore/targets/nbd-target.ts: an export the node reaches, written in place) runs the
// restore target conformance suite (./disk-target-suite.ts), against a writable persistent
// qemu-nbd per disk on a unix socket, each serving a raw file of the disk's size.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startQemuNbd, type TestNbdServer } from '../../support/qemu-nbd-server.js';
import { diskTargetSuite } from './disk-target-suite.js';

const servers: TestNbdServer[] = [];
const url = (target: { readonly type: string; readonly url?: string }, key: number) =>
  target.url!.replaceAll('{key}', String(key));

diskTargetSuite('nbd', {
  async make(dir, sizes) {
    for (const [key, size] of Object.entries(sizes)) {
      const file = path.join(dir, `export-${key}.raw`);
      execFileSync('qemu-img', ['create', '-q', '-f', 'raw', file, String(size)]);
      // What an export holds before a restore: old data, which the restore must overwrite.
      execFileSync('qemu-io', ['-f', 'raw', '-c', 'write -P 0xee 0 4M', file]);
      servers.push(
        await startQemuNbd({ file, format: 'raw', exportName: 'disk', socket: path.join(dir, `${key}.sock`) }),
      );
    }
    return { type: 'nbd', url: `nbd+unix:///disk?socket=${path.join(dir, '{key}.sock')}` };
  },
  // Read through the export (qemu-nbd holds the file's write lock).
  restored: (target, key) => ({ file: url(target, key), format: 'raw' }),
  async unwritable(dir) {
    return {
      target: { type: 'nbd', url: `nbd+unix:///disk?socket=${path.join(dir, '{key}.sock')}` },
      error: /cannot open NBD target nbd\+unix:\/\/\/disk\?socket=.*2000\.sock for disk 2000/,
    };
  },
  notApplicable: {
    sparse: 'an export holds old data, so every hole is written as zeroes; how it stores them is up to the server',
    'existing refused': 'an NBD export exists by definition and is written in place (docs/how-it-works.md#a-restore)',
    'nothing presented': 'an export is written in place: only the run, recorded interrupted, says it is not restored',
  },
  async done() {
    for (const server of servers.splice(0)) await server.stop();
  },
});
