// Bad input and refusals of a VMware source read by sendense-run itself, against a SIMULATED
// vSphere (govmomi's vcsim behind the faked-CBT proxy, as in vmware-simulated.test.ts): a wrong
// password, an unknown VM, CBT off, a datastore out of reach, a disk the VM no longer has, a vmdk
// that is not one flat extent, a VM that carries another snapshot. Each is one line, and nothing is left behind: no snapshot of
// ours, no process, port lease, VM lock, node record or point.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses, tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, parseEvents, sendenseRun } from '../support/sendense-cli.js';
import { buildVcsimFirst, makeCertificate, startVcsim, vcsimMissing, type Vcsim } from '../support/vcsim.js';
import { startCbtProxy, type CbtProxy } from '../support/vsphere-cbt-proxy.js';
import { differenceBetween, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import type { VimClient as Client } from '../../src/vmware/vim-client.js';
import type { MoRef } from '../../src/vmware/soap-xml.js';
import { vcsimSnapshotNames, withVcsimClient, type VcsimLogin } from './vcsim-looks.js';

const MiB = 1024 * 1024;
const USER = 'backup@vsphere.local';
const PASSWORD = 'Vc-sim refusal pa55!';
const ENV = { TEST_VCENTER_PASSWORD: PASSWORD };
const SIZES = new Map([
  [2000, 8 * MiB],
  [2001, 4 * MiB],
]);
const [first, last] = portRangeForTestFile(8);
const ws = useRunWorkspace('vmware-refusals-simulated-', { per: 'file' });

let certDir = '';
let sha256 = '';
let vcsim: Vcsim;
let proxy: CbtProxy;

const flat = (key: number) => vcsim.disks.find((disk) => disk.key === key)!.flat;

buildVcsimFirst();

beforeAll(async () => {
  const missing = vcsimMissing();
  if (missing !== undefined)
    throw new Error(`the simulated vSphere needs Go and govmomi's source: ${missing} (scripts/setup.sh installs them)`);
  certDir = mkdtempSync(path.join(tmpdir(), 'vmware-refusals-simulated-cert-'));
  const cert = makeCertificate(certDir);
  sha256 = cert.sha256;
  vcsim = await startVcsim({ cert: cert.cert, key: cert.key, username: USER, password: PASSWORD, disks: SIZES });
  proxy = await startCbtProxy(vcsim.endpoint, cert.cert, cert.key, vcsim.disks);
  writeDisk(flat(2000), ['write -P 0x11 0 1M', 'write -P 0x12 5M 64k'], 'raw');
  writeDisk(flat(2001), ['write -P 0x13 1M 1M'], 'raw');
}, 300_000);

afterAll(async () => {
  await proxy?.close();
  await vcsim?.stop();
  rmSync(certDir, { recursive: true, force: true });
});

function writePlan(source: Record<string, unknown> = {}): string {
  const file = path.join(ws.dir, 'vmw.yaml');
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'incremental',
      name: 'vmw-refusals-simulated',
      vm: {
        name: 'vmw',
        source: {
          type: 'vmware',
          endpoint: proxy.endpoint,
          username: USER,
          passwordEnv: 'TEST_VCENTER_PASSWORD',
          path: vcsim.vmPath,
          certificateSha256: sha256,
          disks: [{ key: 2000 }, { key: 2001 }],
          ...source,
        },
      },
      repository: { path: path.join(ws.dir, 'repository') },
      nbd: { ports: `${first}-${last}` },
    }),
  );
  return file;
}

const login = (): VcsimLogin => ({ vcsim, sha256, username: USER, password: PASSWORD });
const withClient = <T>(use: (client: Client, vm: MoRef) => Promise<T>): Promise<T> => withVcsimClient(login(), use);
const snapshotNames = (): Promise<string[]> => vcsimSnapshotNames(login());

async function setCbt(on: boolean): Promise<void> {
  const { moRefXml } = await import('../../src/vmware/soap-xml.js');
  await withClient((client, vm) =>
    client.runTask(
      'ReconfigVM_Task',
      `${moRefXml('_this', vm)}<spec><changeTrackingEnabled>${on}</changeTrackingEnabled></spec>`,
    ),
  );
}

async function cbtOn(): Promise<boolean> {
  const { findVm } = await import('../../src/vmware/vm-inventory.js');
  return withClient(async (client) => (await findVm(client, vcsim.vmPath)).cbt);
}

const completePoints = async () => (await listBackups(ws.db, 'vmw')).filter((point) => point.status === 'complete');

// The run failed with exit 1 in one line (the run's end line says it; no stack) and left nothing.
async function refusedInOneLine(
  result: { exitCode: number | null; stdout: string; stderr: string },
  says: string | RegExp,
  before: number,
  snapshots: readonly string[] = [],
): Promise<void> {
  expect(result.exitCode, result.stdout + result.stderr).toBe(1);
  const lines = result.stderr.trim().split('\n');
  const matching = lines.filter((line) => (typeof says === 'string' ? line.includes(says) : says.test(line)));
  expect(matching.length, result.stderr).toBeGreaterThanOrEqual(1);
  expect(lines.at(-1), result.stderr).toMatch(/^run \S+ failed in [\d.]+ s: /);
  expect(lines.at(-1), result.stderr).toMatch(says);
  expect(`${result.stdout}${result.stderr}`).not.toMatch(/^\s+at /m);
  expect(`${result.stdout}${result.stderr}`).not.toContain(PASSWORD);
  expect((await completePoints()).length).toBe(before);
  expect(await snapshotNames()).toEqual(snapshots);
  expect(leasedPorts(ws.db)).toEqual([]);
  expect(recordedProcesses(ws.db)).toEqual([]);
  expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
  expect(tableRows(ws.db, 'node_resources')).toEqual([]);
}

describe('VMware source bad input, one line each, nothing left behind (vmware-simulated: vcsim + a faked CBT)', () => {
  it('simulated vSphere: a wrong password is one line naming the user and where the password comes from', async () => {
    const result = await sendenseRun([writePlan(), '--db', ws.db], { TEST_VCENTER_PASSWORD: 'not-it' });
    await refusedInOneLine(
      result,
      `vSphere login as ${USER} at https://${proxy.endpoint} failed: wrong user name or password (vm.source.username, passwordEnv/passwordFile)`,
      0,
    );
  });

  it('simulated vSphere: an unknown VM (inventory path or moref) is one line saying how to name one', async () => {
    for (const where of ['/DC0/vm/no-such-vm', 'vm-999999']) {
      const result = await sendenseRun([writePlan({ path: where }), '--db', ws.db], ENV);
      await refusedInOneLine(result, `no VM ${where} in vSphere at https://${proxy.endpoint}`, 0);
    }
  });

  it('simulated vSphere: the password from vm.source.passwordFile logs in (dry run); an unset variable or a missing file is one line', async () => {
    const file = path.join(ws.dir, 'vcenter.password');
    writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
    const fromFile = await sendenseRun(
      [writePlan({ passwordEnv: undefined, passwordFile: file }), '--db', ws.db, '--dry-run'],
      {},
    );
    expect(fromFile.exitCode, fromFile.stdout + fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toMatch(/VM vmw \(vm-\d+\) at 127\.0\.0\.1:\d+: poweredOn, CBT on/);
    expect(fromFile.stdout + fromFile.stderr).not.toContain(PASSWORD);
    const unset = await sendenseRun([writePlan(), '--db', ws.db], {});
    await refusedInOneLine(
      unset,
      'the vCenter password variable TEST_VCENTER_PASSWORD (vm.source.passwordEnv) is not set',
      0,
    );
    const missing = await sendenseRun(
      [writePlan({ passwordEnv: undefined, passwordFile: `${file}.gone` }), '--db', ws.db],
      {},
    );
    await refusedInOneLine(
      missing,
      `cannot read the vCenter password file ${file}.gone (vm.source.passwordFile): no such file`,
      0,
    );
  });

  it('simulated vSphere: a VM named by its moref is found as by its inventory path (dry run)', async () => {
    const dry = await sendenseRun([writePlan({ path: vcsim.vm }), '--db', ws.db, '--dry-run'], ENV);
    expect(dry.exitCode, dry.stdout + dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`VM vmw (${vcsim.vm}) at ${proxy.endpoint}: poweredOn, CBT on; disks 2000 =`);
  });

  it('simulated vSphere: a disk the VM no longer has is one line listing the disks it has', async () => {
    const result = await sendenseRun([writePlan({ disks: [{ key: 2000 }, { key: 2002 }] }), '--db', ws.db], ENV);
    await refusedInOneLine(result, 'VM vmw has no disk with key 2002 (its disks: 2000, 2001)', 0);
  });

  it('simulated vSphere: CBT off is refused in one line saying how to turn it on (dry-run says so too); cbt: enable turns it on and takes a warned full, exact', async () => {
    await setCbt(false);
    expect(await cbtOn()).toBe(false);
    const dry = await sendenseRun([writePlan(), '--db', ws.db, '--dry-run'], ENV);
    expect(dry.exitCode).toBe(1);
    expect(dry.stdout).toContain('changed block tracking (CBT) is off on VM vmw: turn it on');
    const refused = await sendenseRun([writePlan(), '--db', ws.db], ENV);
    await refusedInOneLine(
      refused,
      "changed block tracking (CBT) is off on VM vmw: turn it on (vSphere: the VM's advanced configuration ctkEnabled = TRUE and scsiX:Y.ctkEnabled = TRUE per disk), or set vm.source.cbt: enable to let sendense-run turn it on",
      0,
    );
    expect(await cbtOn()).toBe(false);

    const enablePlan = writePlan({ cbt: 'enable' });
    const dryEnable = await sendenseRun([enablePlan, '--db', ws.db, '--dry-run'], ENV);
    expect(dryEnable.exitCode, dryEnable.stderr).toBe(0);
    expect(dryEnable.stdout).toContain(
      'CBT off (vm.source.cbt: enable: turned on before the snapshot, this backup a full)',
    );
    const enabled = await sendenseRun([enablePlan, '--db', ws.db, '--json'], ENV);
    expect(enabled.exitCode, enabled.stdout + enabled.stderr).toBe(0);
    expect(JSON.stringify(parseEvents(enabled.stdout).filter((event) => event.type === 'warning'))).toContain(
      'CBT was off on VM vmw: turned on (vm.source.cbt: enable)',
    );
    expect(await cbtOn()).toBe(true);
    const [point] = await completePoints();
    expect(point!.type).toBe('full');
    for (const disk of point!.disks) expect(differenceBetween(disk.file, flat(disk.diskKey), 'raw')).toBe('');
    expect(await snapshotNames()).toEqual([]);
  });

  it('simulated vSphere: a datastore out of reach (its descriptor, or its data at transfer) is one line; the snapshot is removed', async () => {
    // A point to go on from (the test may run alone).
    const base = await sendenseRun([writePlan({ cbt: 'enable' }), '--db', ws.db], ENV);
    expect(base.exitCode, base.stdout + base.stderr).toBe(0);
    const before = (await completePoints()).length;
    writeDisk(flat(2000), ['write -P 0x21 2M 64k'], 'raw');
    proxy.datastoreDown = 'all';
    try {
      const result = await sendenseRun([writePlan(), '--db', ws.db], ENV);
      await refusedInOneLine(result, /the datastore answered HTTP 503 for \/folder\/vmw\/vmw_0\.vmdk/, before);
    } finally {
      proxy.datastoreDown = undefined;
    }
    proxy.datastoreDown = 'data';
    try {
      const result = await sendenseRun([writePlan(), '--db', ws.db], ENV);
      await refusedInOneLine(
        result,
        /step transfer, disk 2000: the datastore answered bytes=\S+ of 127\.0\.0\.1:\d+ with HTTP 503/,
        before,
      );
    } finally {
      proxy.datastoreDown = undefined;
    }
    const next = await sendenseRun([writePlan(), '--db', ws.db], ENV);
    expect(next.exitCode, next.stdout + next.stderr).toBe(0);
    const newest = (await completePoints()).at(-1)!;
    expect(newest.type).toBe('incremental');
    for (const disk of newest.disks) expect(differenceBetween(disk.file, flat(disk.diskKey), 'raw')).toBe('');
  });

  it('simulated vSphere: a disk whose vmdk at the snapshot is not one flat extent (sparse, split in two) is refused in one line naming it, never read wrong', async () => {
    const before = (await completePoints()).length;
    const disk = vcsim.disks.find((each) => each.key === 2001)!;
    const sectors = disk.capacity / 512;
    const layouts: readonly [string, string][] = [
      [
        `# Disk DescriptorFile\nversion=1\ncreateType="monolithicSparse"\n\nRW ${sectors} SPARSE "vmw_1.vmdk"\n`,
        'a monolithicSparse vmdk',
      ],
      [
        `# Disk DescriptorFile\nversion=1\ncreateType="vmfs"\n\nRW ${sectors / 2} VMFS "vmw_1-flat.vmdk"\nRW ${sectors / 2} VMFS "vmw_1-s002.vmdk"\n`,
        'a vmdk of 2 extents',
      ],
    ];
    try {
      for (const [text, why] of layouts) {
        writeFileSync(disk.descriptor, text);
        const result = await sendenseRun([writePlan(), '--db', ws.db], ENV);
        await refusedInOneLine(
          result,
          `disk 2001 of VM vmw is ${why} at the snapshot ([LocalDS_0] vmw/vmw_1.vmdk): the HTTPS reader reads flat disks only`,
          before,
        );
      }
    } finally {
      writeFileSync(disk.descriptor, disk.descriptorText);
    }
  });

  it("simulated vSphere: a VM that carries another's snapshot (its disks are deltas at ours) is refused in one line, never read wrong; their snapshot is kept", async () => {
    const before = (await completePoints()).length;
    const { createSnapshot, removeSnapshot } = await import('../../src/vmware/snapshots.js');
    const theirs = await withClient((client, vm) => createSnapshot(client, vm, 'nightly-by-someone-else', false));
    // vcsim keeps writing the flat file; vSphere's layout (ours a delta of theirs) is shown by the proxy.
    proxy.deltaDisks = true;
    try {
      writeDisk(flat(2000), ['write -P 0x31 3M 64k'], 'raw');
      const result = await sendenseRun([writePlan(), '--db', ws.db], ENV);
      await refusedInOneLine(
        result,
        /disk 2000 of VM vmw is a delta disk of .* \(the VM has other snapshots\) at the snapshot .*: the HTTPS reader reads flat disks only; remove the VM's other snapshots, or use client: sendense-backup-client/,
        before,
        ['nightly-by-someone-else'],
      );
    } finally {
      proxy.deltaDisks = false;
      await withClient((client) => removeSnapshot(client, theirs));
      vcsim.repairDescriptors();
    }
  });
});
