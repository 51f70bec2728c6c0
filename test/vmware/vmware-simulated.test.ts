// VMware sources read by sendense-run itself, against a SIMULATED vSphere: govmomi's vcsim
// (test/support/vcsim.ts) behind a proxy that fakes changed block tracking (test/support/
// vsphere-cbt-proxy.ts). What is real: our vSphere client, TLS with a pinned fingerprint, the
// datastore's HTTPS file access with ranges, the node transfer, qemu-nbd, the chain; what is FAKED:
// VMware itself, and CBT's change lists (made by comparing the disk files between snapshots).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses, tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, parseEvents, sendenseRun } from '../support/sendense-cli.js';
import { buildVcsimFirst, makeCertificate, startVcsim, vcsimMissing, type Vcsim } from '../support/vcsim.js';
import { startCbtProxy, type CbtProxy, type QueryTrouble } from '../support/vsphere-cbt-proxy.js';
import { differenceBetween, imageInfo, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { killAtEnv } from '../../src/crash-points.js';
import { restoreToFiles } from './restore-point.js';

const MiB = 1024 * 1024;
const USER = 'backup@vsphere.local';
const PASSWORD = 'Vc-sim pa55!word$';
const ENV = { TEST_VCENTER_PASSWORD: PASSWORD };
const SIZES = new Map([
  [2000, 64 * MiB + 3 * 512],
  [2001, 32 * MiB],
]);
const [first, last] = portRangeForTestFile(8);
const ws = useRunWorkspace('vmware-simulated-');

let certDir = '';
let sha256 = '';
let vcsim: Vcsim;
let proxy: CbtProxy;

buildVcsimFirst();

beforeAll(async () => {
  const missing = vcsimMissing();
  if (missing !== undefined)
    throw new Error(`the simulated vSphere needs Go and govmomi's source: ${missing} (scripts/setup.sh installs them)`);
  certDir = mkdtempSync(path.join(tmpdir(), 'vmware-simulated-cert-'));
  const cert = makeCertificate(certDir);
  sha256 = cert.sha256;
  vcsim = await startVcsim({ cert: cert.cert, key: cert.key, username: USER, password: PASSWORD, disks: SIZES });
  proxy = await startCbtProxy(vcsim.endpoint, cert.cert, cert.key, vcsim.disks);
}, 300_000);

afterAll(async () => {
  await proxy?.close();
  await vcsim?.stop();
  rmSync(certDir, { recursive: true, force: true });
});

function writePlan(source: Record<string, unknown> = {}, top: Record<string, unknown> = {}): string {
  const plan = {
    version: 1,
    kind: 'incremental',
    name: 'vmw-simulated',
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
    ...top,
  };
  const file = path.join(ws.dir, 'vmw.yaml');
  writeFileSync(file, stringify(plan));
  return file;
}

// The disk all zeroes again, at its size.
function emptyDisk(file: string, size: number): void {
  execFileSync('truncate', ['-s', '0', file]);
  execFileSync('truncate', ['-s', String(size), file]);
}

const flat = (key: number) => vcsim.disks.find((disk) => disk.key === key)!.flat;

// The snapshots vSphere holds of the simulated VM, by name.
async function snapshotNames(): Promise<string[]> {
  const { VimClient } = await import('../../src/vmware/vim-client.js');
  const { findVm } = await import('../../src/vmware/vm-inventory.js');
  const client = VimClient.open(vcsim.endpoint, { sha256, trustLine: () => '' });
  try {
    await client.login(USER, PASSWORD);
    const vm = await findVm(client, vcsim.vmPath);
    const info = (await client.properties(vm.ref, ['snapshot']))?.get('snapshot');
    return info === undefined
      ? []
      : [...info.getElementsByTagNameNS('*', 'name')].map((element) => element.textContent ?? '');
  } finally {
    await client.logout();
  }
}

// Each backup read through its chain equals the flat file as it was at that point.
async function expectExact(point: string, type: 'full' | 'incremental'): Promise<void> {
  const latest = (await listBackups(ws.db, 'vmw')).at(-1)!;
  expect(latest.type, point).toBe(type);
  for (const [key, size] of SIZES) {
    const backup = latest.disks.find((disk) => disk.diskKey === key)!;
    expect(backup.changeId, point).toMatch(/^([0-9a-f]{2} ){15}[0-9a-f]{2}\/\d+$/);
    expect(imageInfo(backup.file)['virtual-size']).toBe(size);
    const copy = keepCopy(flat(key), path.join(ws.dir, `disk-${key}.${point}.raw`));
    expect(differenceBetween(backup.file, copy, 'raw'), `disk ${key} at ${point}`).toBe('');
  }
}

describe('VMware source read by sendense-run (vmware-simulated: vcsim + a faked CBT, no real vSphere)', () => {
  it('a full then incrementals paged over several QueryChangedDiskAreas answers are byte-exact; no snapshot is left', async () => {
    for (const [key, size] of SIZES) emptyDisk(flat(key), size);
    writeDisk(flat(2000), ['write -P 0x21 0 8M', `write -P 0x22 ${64 * MiB} 1536`], 'raw');
    writeDisk(flat(2001), ['write -P 0x23 4M 4M'], 'raw');
    const plan = writePlan();

    const full = await sendenseRun([plan, '--db', ws.db], ENV);
    expect(full.exitCode, full.stdout + full.stderr).toBe(0);
    await expectExact('p1', 'full');

    // A change list of several pages: each answer covers 8 MiB of the disk.
    proxy.pageBytes = 8 * MiB;
    const before = proxy.calls.get('QueryChangedDiskAreas') ?? 0;
    writeDisk(
      flat(2000),
      ['write -P 0x31 1M 2M', 'write -z 6M 1M', `write -P 0x32 ${64 * MiB + 1024} 512`, 'write -P 0x33 40M 64k'],
      'raw',
    );
    writeDisk(flat(2001), ['write -z 5M 64k'], 'raw');
    const second = await sendenseRun([plan, '--db', ws.db, '--json'], ENV);
    expect(second.exitCode, second.stdout + second.stderr).toBe(0);
    await expectExact('p2', 'incremental');
    // 2000: 9 pages (64 MiB + 1536 bytes), 2001: 4 pages.
    expect((proxy.calls.get('QueryChangedDiskAreas') ?? 0) - before).toBe(9 + 4);
    const said = JSON.stringify(parseEvents(second.stdout));
    expect(said).toContain('13 QueryChangedDiskAreas call(s)');
    expect(said).not.toContain(PASSWORD);

    writeDisk(flat(2001), ['write -P 0x41 0 64k', 'write -P 0x42 31M 1M'], 'raw');
    const third = await sendenseRun([plan, '--db', ws.db], ENV);
    expect(third.exitCode, third.stdout + third.stderr).toBe(0);
    await expectExact('p3', 'incremental');
    proxy.pageBytes = undefined;

    expect(await snapshotNames()).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);
    expect(recordedProcesses(ws.db)).toEqual([]);
  });
});

describe('VMware source failure paths (vmware-simulated)', () => {
  it('an unknown or changed certificate is refused with its fingerprint and the line to trust it; nothing is taken', async () => {
    const unknown = await sendenseRun([writePlan({ certificateSha256: undefined }), '--db', ws.db], ENV);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain(
      `is not trusted yet: its SHA-256 fingerprint is ${sha256}; if that is your vSphere server's, trust it with vm.source.certificateSha256: "${sha256}"`,
    );
    const other = Array.from({ length: 32 }, () => 'AB').join(':');
    const changed = await sendenseRun([writePlan({ certificateSha256: other }), '--db', ws.db], ENV);
    expect(changed.exitCode).toBe(1);
    expect(changed.stderr).toContain(`changed: its SHA-256 fingerprint is ${sha256}, not the trusted ${other}`);
    for (const result of [unknown, changed]) expect(`${result.stdout}${result.stderr}`).not.toMatch(/Vc-sim|\n\s+at /);
    expect(await listBackups(ws.db, 'vmw')).toEqual([]);
    expect(await snapshotNames()).toEqual([]);
  });

  it('a CBT reset (the disk now has a change id of another CBT instance): the run warns and takes a full into a new chain, exact', async () => {
    for (const [key, size] of SIZES) emptyDisk(flat(key), size);
    writeDisk(flat(2000), ['write -P 0x51 0 2M'], 'raw');
    const plan = writePlan();
    expect((await sendenseRun([plan, '--db', ws.db], ENV)).exitCode).toBe(0);
    const [full] = await listBackups(ws.db, 'vmw');
    proxy.resetCbt(2000);
    writeDisk(flat(2000), ['write -P 0x52 1M 2M'], 'raw');

    const dry = await sendenseRun([plan, '--db', ws.db, '--dry-run'], ENV);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /VM vmw \(vm-\d+\) at 127\.0\.0\.1:\d+: poweredOn, CBT on; disks 2000 = \[LocalDS_0\] vmw\/vmw_0\.vmdk \(64\.0 MiB\), 2001/,
    );
    expect(dry.stdout).toContain("VMware's change tracking of disk 2000 was reset");

    const after = await sendenseRun([plan, '--db', ws.db, '--json'], ENV);
    expect(after.exitCode, after.stdout + after.stderr).toBe(0);
    const warnings = parseEvents(after.stdout).filter((event) => event.type === 'warning');
    expect(JSON.stringify(warnings)).toContain(
      `VMware's change tracking of disk 2000 was reset since backup ${full!.id}`,
    );
    await expectExact('after-reset', 'full');
    expect((await listBackups(ws.db, 'vmw')).at(-1)!.chainId).not.toBe(full!.chainId);
    expect(await snapshotNames()).toEqual([]);
  });

  it('a change id vSphere rejects only at query time (FileFault, vmware-simulated): a warned full into a new chain in the same run, exact', async () => {
    for (const [key, size] of SIZES) emptyDisk(flat(key), size);
    writeDisk(flat(2000), ['write -P 0x71 0 3M', 'write -P 0x72 20M 1M'], 'raw');
    writeDisk(flat(2001), ['write -P 0x73 8M 1M'], 'raw');
    const plan = writePlan();
    expect((await sendenseRun([plan, '--db', ws.db], ENV)).exitCode).toBe(0);
    const [full] = (await listBackups(ws.db, 'vmw')).slice(-1);
    // The disk's change ids look as before (no new CBT instance), but vSphere refuses them.
    proxy.rejectChangeIds(2000);
    writeDisk(flat(2000), ['write -z 0 1M', 'write -P 0x74 30M 2M'], 'raw');

    const after = await sendenseRun([plan, '--db', ws.db, '--json'], ENV);
    expect(after.exitCode, after.stdout + after.stderr).toBe(0);
    const warnings = JSON.stringify(parseEvents(after.stdout).filter((event) => event.type === 'warning'));
    expect(warnings).toContain(
      `vSphere rejected change id ${full!.disks.find((d) => d.diskKey === 2000)!.changeId} of disk 2000`,
    );
    expect(warnings).toContain('taking a full backup into a new chain');
    await expectExact('after-rejected', 'full');
    // Restored as a user would: the full's bytes are the source disks'.
    const restored = await restoreToFiles({
      dir: ws.dir,
      db: ws.db,
      vm: 'vmw',
      repository: path.join(ws.dir, 'repository'),
      ports: [first, last],
      point: (await listBackups(ws.db, 'vmw')).at(-1)!.id,
      keys: [...SIZES.keys()],
    });
    for (const [key, file] of restored) expect(differenceBetween(file, flat(key), 'raw'), `disk ${key}`).toBe('');
    const points = await listBackups(ws.db, 'vmw');
    expect(points.at(-1)!.chainId).not.toBe(full!.chainId);
    // No incremental was recorded on the old chain.
    expect(
      points
        .filter((point) => point.chainId === full!.chainId && point.status === 'complete')
        .map((point) => point.type),
    ).toEqual(['full']);
    expect(await snapshotNames()).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);
    expect(recordedProcesses(ws.db)).toEqual([]);

    // The chain goes on from the new full.
    writeDisk(flat(2000), ['write -P 0x75 5M 64k'], 'raw');
    const next = await sendenseRun([plan, '--db', ws.db], ENV);
    expect(next.exitCode, next.stdout + next.stderr).toBe(0);
    await expectExact('after-rejected-next', 'incremental');
  });

  it('a change id vSphere rejects at query time with incremental.onMissingChain: fail (vmware-simulated): the run fails in one line, nothing is taken', async () => {
    for (const [key, size] of SIZES) emptyDisk(flat(key), size);
    writeDisk(flat(2001), ['write -P 0x81 1M 1M'], 'raw');
    // A point to build on (the test may run alone), then the plan that fails rather than start a chain.
    const base = await sendenseRun([writePlan(), '--db', ws.db], ENV);
    expect(base.exitCode, base.stdout + base.stderr).toBe(0);
    const plan = writePlan({}, { incremental: { onMissingChain: 'fail' } });
    const before = await listBackups(ws.db, 'vmw');
    proxy.rejectChangeIds(2001);
    writeDisk(flat(2001), ['write -P 0x82 2M 1M'], 'raw');

    const refused = await sendenseRun([plan, '--db', ws.db], ENV);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/vSphere rejected change id \S+ \S+ .* of disk 2001 at the snapshot/);
    expect(refused.stderr).toContain("incremental.onMissingChain is 'fail'");
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    const complete = (await listBackups(ws.db, 'vmw')).filter((point) => point.status === 'complete');
    expect(complete.map((point) => point.id)).toEqual(before.filter((p) => p.status === 'complete').map((p) => p.id));
    expect(await snapshotNames()).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);
    expect(recordedProcesses(ws.db)).toEqual([]);
  });

  it('kill -9 with the snapshot made: doctor removes that snapshot and no other; the next run is exact', async () => {
    for (const [key, size] of SIZES) emptyDisk(flat(key), size);
    writeDisk(flat(2001), ['write -P 0x61 3M 1M'], 'raw');
    const plan = writePlan();
    const { VimClient } = await import('../../src/vmware/vim-client.js');
    const { createSnapshot, removeSnapshot } = await import('../../src/vmware/snapshots.js');
    const { findVm } = await import('../../src/vmware/vm-inventory.js');
    const client = VimClient.open(vcsim.endpoint, { sha256, trustLine: () => '' });
    await client.login(USER, PASSWORD);
    try {
      const vm = await findVm(client, vcsim.vmPath);
      // Someone else's snapshot, there before and after: never ours to remove.
      const theirs = await createSnapshot(client, vm.ref, 'nightly-by-someone-else', false);

      const killed = await sendenseRun([plan, '--db', ws.db], {
        ...ENV,
        ...killAtEnv('vmware.snapshot-made'),
      });
      expect(killed.exitCode).not.toBe(0);
      const names = await snapshotNames();
      expect(names).toContain('nightly-by-someone-else');
      expect(names.filter((name) => name.startsWith('sendense-'))).toHaveLength(1);

      const doctor = await sendenseRun(['doctor', '--db', ws.db], ENV);
      expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);
      expect(doctor.stdout).toMatch(/VMware snapshot sendense-\S+ of VM vm-\d+ at 127\.0\.0\.1:\d+ .*remove it/);
      expect(await snapshotNames()).toEqual(['nightly-by-someone-else']);
      await removeSnapshot(client, theirs);
      vcsim.repairDescriptors();
    } finally {
      await client.logout();
    }
    const next = await sendenseRun([plan, '--db', ws.db], ENV);
    expect(next.exitCode, next.stdout + next.stderr).toBe(0);
    await expectExact('after-kill', 'full');
    expect(await snapshotNames()).toEqual([]);
  });
});

describe('VMware faults that are no verdict on the change id (vmware-simulated)', () => {
  const TROUBLES: readonly { trouble: QueryTrouble; says: RegExp }[] = [
    { trouble: 'NotAuthenticated', says: /The session is not authenticated\. \(NotAuthenticated\)/ },
    { trouble: 'SystemError', says: /A general system error occurred: \(SystemError\)/ },
    {
      trouble: 'InvalidArgument-deviceKey',
      says: /A specified parameter was not correct: deviceKey \(InvalidArgument\)/,
    },
    { trouble: 'connection-reset', says: /cannot reach vSphere at https:\/\/127\.0\.0\.1:\d+: socket hang up/ },
  ];

  it('a lost session, a server error, a deviceKey refused or a cut connection at QueryChangedDiskAreas (vmware-simulated): the run fails in one line, no new chain is started; the next run goes on from the chain, exact', async () => {
    for (const [key, size] of SIZES) emptyDisk(flat(key), size);
    writeDisk(flat(2000), ['write -P 0x91 0 1M'], 'raw');
    const plan = writePlan();
    const base = await sendenseRun([plan, '--db', ws.db], ENV);
    expect(base.exitCode, base.stdout + base.stderr).toBe(0);
    const chain = (await listBackups(ws.db, 'vmw')).at(-1)!.chainId;
    for (const { trouble, says } of TROUBLES) {
      const complete = (await listBackups(ws.db, 'vmw')).filter((point) => point.status === 'complete');
      const snapshotsBefore = proxy.calls.get('CreateSnapshot_Task') ?? 0;
      writeDisk(flat(2000), ['write -P 0x92 2M 64k'], 'raw');
      proxy.failIncrementalQueries = trouble;
      try {
        const failed = await sendenseRun([plan, '--db', ws.db, '--json'], ENV);
        expect(failed.exitCode, `${trouble}: ${failed.stdout}${failed.stderr}`).toBe(1);
        const end = parseEvents(failed.stdout).find((event) => event.type === 'run-end');
        const error = end?.type === 'run-end' ? (end.error ?? '') : '';
        expect(error, trouble).toMatch(says);
        expect(error, trouble).toContain('QueryChangedDiskAreas of disk 2000 from 0 failed');
        expect(error, trouble).not.toContain('\n');
        // Not taken again as a full: one snapshot, no warning, no point.
        expect(failed.stdout, trouble).not.toContain('taken again');
        expect((proxy.calls.get('CreateSnapshot_Task') ?? 0) - snapshotsBefore, trouble).toBe(1);
      } finally {
        proxy.failIncrementalQueries = undefined;
      }
      expect((await listBackups(ws.db, 'vmw')).filter((point) => point.status === 'complete')).toEqual(complete);
      expect(await snapshotNames(), trouble).toEqual([]);
      expect(leasedPorts(ws.db)).toEqual([]);
      expect(recordedProcesses(ws.db)).toEqual([]);
      expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
    }
    const next = await sendenseRun([plan, '--db', ws.db], ENV);
    expect(next.exitCode, next.stdout + next.stderr).toBe(0);
    await expectExact('after-troubles', 'incremental');
    expect((await listBackups(ws.db, 'vmw')).at(-1)!.chainId).toBe(chain);
  });

  it('a change id refused as InvalidArgument changeId (vmware-simulated): a warned full into a new chain, exact; quiesce: true asks vSphere for a quiesced snapshot', async () => {
    for (const [key, size] of SIZES) emptyDisk(flat(key), size);
    writeDisk(flat(2001), ['write -P 0xa1 0 1M'], 'raw');
    const plan = writePlan({ quiesce: true });
    const base = await sendenseRun([plan, '--db', ws.db], ENV);
    expect(base.exitCode, base.stdout + base.stderr).toBe(0);
    expect(proxy.quiesced.at(-1)).toBe(true);
    const before = (await listBackups(ws.db, 'vmw')).at(-1)!;
    proxy.rejectChangeIds(2001, 'InvalidArgument');
    writeDisk(flat(2001), ['write -P 0xa2 3M 1M'], 'raw');
    const after = await sendenseRun([plan, '--db', ws.db, '--json'], ENV);
    expect(after.exitCode, after.stdout + after.stderr).toBe(0);
    const warnings = JSON.stringify(parseEvents(after.stdout).filter((event) => event.type === 'warning'));
    expect(warnings).toContain('A specified parameter was not correct: changeId (InvalidArgument)');
    expect(warnings).toContain('taking a full backup into a new chain');
    await expectExact('after-invalid-change-id', 'full');
    expect((await listBackups(ws.db, 'vmw')).at(-1)!.chainId).not.toBe(before.chainId);
    expect(await snapshotNames()).toEqual([]);
  });

  it("a change id vSphere rejects (vmware-simulated): the VM stays locked from the first attempt into the second (killed between them: the lock is the run's); doctor gives it back", async () => {
    for (const [key, size] of SIZES) emptyDisk(flat(key), size);
    writeDisk(flat(2000), ['write -P 0xb1 0 1M'], 'raw');
    const plan = writePlan();
    const base = await sendenseRun([plan, '--db', ws.db], ENV);
    expect(base.exitCode, base.stdout + base.stderr).toBe(0);
    proxy.rejectChangeIds(2000);
    writeDisk(flat(2000), ['write -P 0xb2 1M 1M'], 'raw');
    const killed = await sendenseRun([plan, '--db', ws.db, '--json'], { ...ENV, ...killAtEnv('run.taken-again') });
    expect(killed.exitCode).not.toBe(0);
    expect(killed.stdout).toContain('the backup is taken again, from resolve-chain');
    // Between the two attempts: the first gave back its snapshot and ports, but not the VM.
    const runs = tableRows(ws.db, 'runs') as { id: string; status: string }[];
    expect(runs.at(-1)!.status).toBe('running');
    expect((tableRows(ws.db, 'vm_locks') as { run_id: string }[]).map((row) => row.run_id)).toEqual([runs.at(-1)!.id]);
    expect(await snapshotNames()).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);
    const doctor = await sendenseRun(['doctor', '--db', ws.db], ENV);
    expect(doctor.exitCode, doctor.stdout + doctor.stderr).toBe(0);
    expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
    // The next run meets the same refusal and takes its full.
    const next = await sendenseRun([plan, '--db', ws.db], ENV);
    expect(next.exitCode, next.stdout + next.stderr).toBe(0);
    await expectExact('after-kill-between-attempts', 'full');
  });
});
