// Ending a run's pull-mode backup job on a real libvirt domain (docs/how-it-works.md#libvirt-domains):
// the run asks until libvirt says the job is gone, so the domain's next backup or sync is not
// refused with "already has a job running" (CI once saw a replica sync refused so, right after the
// previous sync had ended). The first question failing is injected (a virsh wrapper answers one
// backup-dumpxml as a busy libvirtd would); the domain, the job and every other call are real.

import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupXml, beginBackup, endBackupJob } from '../../src/libvirt/backup-job.js';
import { virshOn, type Virsh } from '../../src/libvirt/virsh.js';
import { createLocalNode } from '../../src/node/local.js';
import { startGuest, virsh as virshSync, type TestGuest } from '../support/libvirt-guest.js';

let guest: TestGuest;
let scratch: string;
const real = virshOn((argv, options) => createLocalNode().exec(argv, options), 'qemu:///system');

beforeAll(async () => {
  guest = await startGuest({ name: 'job-end', agent: false });
  scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch);
  // The hypervisor's user writes the job's socket and scratch files here.
  chmodSync(scratch, 0o777);
}, 180_000);
afterAll(() => guest?.remove());

let round = 0;
async function beginJob(socketOf?: string): Promise<string> {
  round++;
  const socket = socketOf ?? path.join(scratch, `nbd-${round}.sock`);
  const file = path.join(scratch, `backup-${round}.xml`);
  writeFileSync(
    file,
    backupXml(socket, [{ target: 'vda', scratch: path.join(scratch, `scratch-${round}-vda.qcow2`) }], ['vdb']),
  );
  await beginBackup(real, guest.name, file);
  expect(virshSync('domjobinfo', guest.name)).toMatch(/Operation:\s+Backup/);
  return socket;
}

// The real virsh, but the first `backup-dumpxml` fails as it does when libvirtd does not answer in time.
function busyOnce(): Virsh {
  let failed = false;
  return {
    ...real,
    async attempt(args, options) {
      if (args[0] === 'backup-dumpxml' && !failed) {
        failed = true;
        return {
          exitCode: 1,
          stdout: '',
          stderr: 'error: Timed out during operation: cannot acquire state change lock (fault injected by the test)\n',
        };
      }
      return real.attempt(args, options);
    },
  };
}

describe("a run's backup job on a real domain", () => {
  it('is gone when endBackupJob returns, even when libvirt did not answer the first question', async () => {
    const socket = await beginJob();
    await endBackupJob(busyOnce(), guest.name, socket);
    expect(virshSync('domjobinfo', guest.name)).toMatch(/Job type:\s+None/);
  }, 60_000);

  // A run taken again (docs/vmware.md#a-change-id-vsphere-rejects) begins its job on the same socket.
  it('is ended again when a job was begun again on the socket of one ended before', async () => {
    const socket = await beginJob();
    await endBackupJob(real, guest.name, socket);
    expect(virshSync('domjobinfo', guest.name)).toMatch(/Job type:\s+None/);
    await beginJob(socket);
    await endBackupJob(real, guest.name, socket);
    expect(virshSync('domjobinfo', guest.name)).toMatch(/Job type:\s+None/);
  }, 60_000);

  it("is left running when it serves another socket (another run's)", async () => {
    const socket = await beginJob();
    await endBackupJob(real, guest.name, `${socket}.other`);
    expect(virshSync('domjobinfo', guest.name)).toMatch(/Operation:\s+Backup/);
    await endBackupJob(real, guest.name, socket);
    expect(virshSync('domjobinfo', guest.name)).toMatch(/Job type:\s+None/);
  }, 60_000);
});
