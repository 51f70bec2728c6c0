// A VMware password the client cannot be given (a file of several lines) is one clear error that
// never shows the password, not an internal-error stack; nothing is left taken.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { leasedPorts } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';

const FAKE_CLIENT = path.resolve('test/fixtures/fake-sendense-backup-client.mjs');
const [first, last] = portRangeForTestFile(8);
const ws = useRunWorkspace('cli-vmware-password-');

describe('VMware password file', () => {
  it('of two lines is refused without showing either', async () => {
    const passwordFile = path.join(ws.dir, 'vcenter-password');
    writeFileSync(passwordFile, 'first-Secret-line\nsecond-Secret-line\n');
    const plan = path.join(ws.dir, 'vmw.yaml');
    writeFileSync(
      plan,
      stringify({
        version: 1,
        kind: 'backup',
        name: 'vmw-password',
        vm: {
          name: 'vmw',
          source: {
            type: 'vmware',
            client: 'sendense-backup-client',
            endpoint: 'vcenter.example.test',
            username: 'backup@vsphere.local',
            passwordFile,
            path: ws.dir,
            clientPath: FAKE_CLIENT,
            disks: [{ key: 2000 }],
          },
        },
        repository: { path: path.join(ws.dir, 'repository') },
        nbd: { ports: `${first}-${last}` },
      }),
    );
    const db = path.join(ws.dir, 'state.db');

    const result = await sendenseRun([plan, '--db', db]);

    expect(result.exitCode).toBe(1);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/Secret-line|\n\s+at /);
    expect(result.stderr.trim().split('\n').at(-1)).toContain(
      `the vCenter password file ${passwordFile} (vm.source.passwordFile) holds more than one line`,
    );
    expect(leasedPorts(db)).toEqual([]);
    expect((await listBackups(db)).every((backup) => backup.status === 'failed')).toBe(true);
  });
});
