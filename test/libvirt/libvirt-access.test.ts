// A user libvirt's system daemon turns away (the hub's service user backing up its own host's
// VMs): the run fails in one line naming that user, the libvirt group and the command that lets
// it in (docs/operations.md#libvirt-access). A real connection attempt to a real libvirtd, as
// nobody: here no D-Bus runs, so libvirt cannot ask polkit, as on the host of issue 79.

import { chmodSync, chownSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureLibvirtd } from '../support/libvirt-guest.js';
import { asNobody, useBinForOtherUsers } from '../support/other-user-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { writeLibvirtPlan } from './libvirt-plans.js';

const ws = useRunWorkspace('libvirt-access-');
const packageCopy = useBinForOtherUsers();
const NOBODY = 65534;

describe.skipIf(process.getuid?.() !== 0)('libvirt refusing the user a run runs as', () => {
  beforeAll(() => ensureLibvirtd(), 120_000);

  it('fails in one line naming the user, the libvirt group and the command to run', async () => {
    chmodSync(ws.dir, 0o755);
    const home = path.join(ws.dir, 'home');
    mkdirSync(home);
    chownSync(home, NOBODY, NOBODY);
    const plan = writeLibvirtPlan(ws.dir, {
      name: 'libvirt-access',
      vm: 'libvirt-access-vm',
      domain: 'sendense-test-libvirt-access',
      uri: 'qemu:///system',
      repository: path.join(home, 'repository'),
      ports: portRangeForTestFile(),
    });
    const result = await execa(
      'setpriv',
      asNobody([process.execPath, packageCopy.bin, plan, '--db', path.join(home, 'state.db')]),
      { reject: false, env: { CI: '1', PATH: process.env.PATH ?? '', HOME: home }, extendEnv: false },
    );
    const output = `${result.stdout}\n${result.stderr}`;
    expect(result.exitCode, output).toBe(1);
    // libvirt's own words, then who is refused and the fix.
    expect(output).toContain(
      'libvirt at qemu:///system does not answer: internal error: Unable to get system bus connection',
    );
    expect(output).toContain('user nobody (uid 65534) is not root');
    expect(output).toContain('as root, `adduser nobody libvirt`, then restart sendense-run');
    expect(output).toContain('unix_sock_group = "libvirt"');
    expect(output).not.toMatch(/^\s+at /m);
  });
});
