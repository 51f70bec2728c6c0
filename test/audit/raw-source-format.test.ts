// A raw source disk whose first bytes look like a qcow2 header: with `format: raw` in the plan it
// is read as raw everywhere (hub and node transfer), never probed, and the backup equals it.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports: [number, number] = [45900, 45919];
const ws = useRunWorkspace('audit-raw-');

describe('raw source with a qcow2-looking header', () => {
  it('format: raw backs up the bytes as they are, header included', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk.img'), 32 * MiB, 'raw');
    // "QFI\xfb", version 3, then garbage: qemu-img would refuse this as a qcow2 image.
    const header = Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    writeFileSync(disk, header, { flag: 'r+' });
    writeDisk(disk, ['write -P 0x77 10M 1M'], 'raw');
    const plan = writePlan(ws.dir, {
      name: 'raw-header',
      kind: 'backup',
      vm: 'rawvm',
      disks: [{ key: 2000, path: disk, format: 'raw' }],
      repository: path.join(ws.dir, 'repo'),
      ports,
    });

    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const [backup] = await listBackups(ws.db);
    expect(differenceBetween(backup.disks[0].file, disk, 'raw')).toBe('');
  });
});
