// kill -9 of a VMware backup at every phase against a SIMULATED vSphere (vcsim behind the faked-CBT
// proxy, as in vmware-simulated.test.ts), then `doctor`: our snapshot is removed and another's kept,
// no process, lease, lock or record of the killed run is left, every complete point still restores
// byte for byte through its chain as the disk was when it was taken, and the next run works.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotedProcesses, identify, killIfAlive, waitForProcessGone } from '../support/processes.js';
import { leasedPorts, processesTaggedBy, recordedProcesses, tableRows } from '../support/process-tree.js';
import { runKilledAt, stepStarts, type KillMoment } from '../support/kill-moments.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { buildVcsimFirst, makeCertificate, startVcsim, vcsimMissing, type Vcsim } from '../support/vcsim.js';
import { startCbtProxy, type CbtProxy } from '../support/vsphere-cbt-proxy.js';
import { differenceBetween, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { killAtEnv } from '../../src/crash-points.js';
import { restoreToFiles } from './restore-point.js';
import type { VimClient as Client } from '../../src/vmware/vim-client.js';
import type { MoRef } from '../../src/vmware/soap-xml.js';
import { vcsimSnapshotNames, withVcsimClient, type VcsimLogin } from './vcsim-looks.js';

const MiB = 1024 * 1024;
const USER = 'backup@vsphere.local';
const PASSWORD = 'Vc-sim crash pa55!';
// The runs' temporary directory, this file's own: the node (this host) makes the run's directory of
// read lists there, which doctor must remove after a kill.
const NODE_TMP = mkdtempSync(path.join(tmpdir(), 'vmware-crash-tmp-'));
const ENV = { TEST_VCENTER_PASSWORD: PASSWORD, TMPDIR: NODE_TMP };
const readListDirs = () => readdirSync(NODE_TMP).filter((name) => name.startsWith('sendense-vmware-'));
const SIZES = new Map([
  [2000, 16 * MiB],
  [2001, 8 * MiB],
]);
const THEIRS = 'nightly-by-someone-else';
const [first, last] = portRangeForTestFile(8);
const ws = useRunWorkspace('vmware-crash-simulated-', { per: 'file' });
const noted = new NotedProcesses();
const seen = new Set<number>();

let certDir = '';
let sha256 = '';
let vcsim: Vcsim;
let proxy: CbtProxy;
let plan = '';
let generation = 0;
// backup id -> the copies of the flat files as they were when it was taken
const copiesOf = new Map<string, Map<number, string>>();

const flat = (key: number) => vcsim.disks.find((disk) => disk.key === key)!.flat;

buildVcsimFirst();

beforeAll(async () => {
  const missing = vcsimMissing();
  if (missing !== undefined)
    throw new Error(`the simulated vSphere needs Go and govmomi's source: ${missing} (scripts/setup.sh installs them)`);
  certDir = mkdtempSync(path.join(tmpdir(), 'vmware-crash-simulated-cert-'));
  const cert = makeCertificate(certDir);
  sha256 = cert.sha256;
  vcsim = await startVcsim({ cert: cert.cert, key: cert.key, username: USER, password: PASSWORD, disks: SIZES });
  proxy = await startCbtProxy(vcsim.endpoint, cert.cert, cert.key, vcsim.disks);
  plan = path.join(ws.dir, 'vmw.yaml');
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'incremental',
      name: 'vmw-crash-simulated',
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
        },
      },
      repository: { path: path.join(ws.dir, 'repository') },
      nbd: { ports: `${first}-${last}` },
    }),
  );
  for (const [key, size] of SIZES) execFileSync('truncate', ['-s', String(size), flat(key)]);
  change();
  const full = await sendenseRun([plan, '--db', ws.db], ENV);
  if (full.exitCode !== 0) throw new Error(`full backup failed:\n${full.stdout}\n${full.stderr}`);
  await rememberNewPoints();
}, 300_000);

afterEach(() => {
  noted.killAll();
  for (const pid of seen) for (const left of processesTaggedBy(pid)) killIfAlive(identify(left.pid));
  seen.clear();
});

afterAll(async () => {
  await proxy?.close();
  await vcsim?.stop();
  rmSync(certDir, { recursive: true, force: true });
  rmSync(NODE_TMP, { recursive: true, force: true });
});

// A new generation of both disks: data written, some zeroed.
function change(): void {
  generation++;
  const at = (generation * 3) % 14;
  writeDisk(flat(2000), [`write -P ${generation} ${at}M 1M`, `write -z ${(at + 7) % 15}M 64k`], 'raw');
  writeDisk(flat(2001), [`write -P ${generation + 100} ${generation % 7}M 128k`], 'raw');
}

// Complete points not seen yet were taken of the disks as they are now (nothing changes them while a
// run is under way or after it was killed).
async function rememberNewPoints(): Promise<void> {
  for (const point of await listBackups(ws.db, 'vmw')) {
    if (point.status !== 'complete' || copiesOf.has(point.id)) continue;
    const copies = new Map<number, string>();
    for (const key of SIZES.keys())
      copies.set(key, keepCopy(flat(key), path.join(ws.dir, `disk-${key}.${point.id}.raw`)));
    copiesOf.set(point.id, copies);
  }
}

const login = (): VcsimLogin => ({ vcsim, sha256, username: USER, password: PASSWORD });
const withClient = <T>(use: (client: Client, vm: MoRef) => Promise<T>): Promise<T> => withVcsimClient(login(), use);
const snapshotNames = (): Promise<string[]> => vcsimSnapshotNames(login());

// open-tunnel is skipped for a node on the hub's own host: no moment at its start.
const STEPS = [
  'resolve-chain',
  'allocate-ports',
  'create-qcow2',
  'start-qemu-nbd',
  'snapshot-source',
  'transfer',
  'record-change-ids',
  'cleanup',
];
const MOMENTS: readonly KillMoment[] = [
  ...stepStarts(STEPS),
  { name: 'with the snapshot recorded, not yet made', env: killAtEnv('vmware.snapshot-recorded') },
  { name: 'with the snapshot made, nothing read', env: killAtEnv('vmware.snapshot-made') },
  { name: "with the first disk's read list written", env: killAtEnv('vmware.areas-listed') },
  { name: 'just after snapshot-source', accept: (e) => e.type === 'step-done' && e.step === 'snapshot-source' },
  { name: 'just after record-change-ids', accept: (e) => e.type === 'step-done' && e.step === 'record-change-ids' },
  { name: 'in cleanup, the snapshot removed, its record kept', env: killAtEnv('vmware.snapshot-removed') },
];

const WITH_SNAPSHOT = new Set([
  'at the start of transfer',
  'at the start of record-change-ids',
  'at the start of cleanup',
  'with the snapshot made, nothing read',
  "with the first disk's read list written",
  'just after snapshot-source',
  'just after record-change-ids',
]);

describe('kill -9 at every phase of a VMware backup (vmware-simulated: vcsim + a faked CBT)', () => {
  for (const moment of MOMENTS) {
    it(`simulated vSphere, killed ${moment.name}: doctor removes our snapshot only, leaves nothing; every point reads back exact; the next run works`, async () => {
      change();
      const killed = await runKilledAt([plan, '--db', ws.db], { ...moment, env: { ...ENV, ...moment.env } }, (pid) => {
        seen.add(pid);
        noted.add(pid);
      });
      // A point the killed run completed holds the disks as they are now.
      await rememberNewPoints();
      expect(killed.signal, `${killed.stdout}\n${killed.stderr}`).toBe('SIGKILL');
      // Our snapshot is there from when it is made until the cleanup removes it.
      const ours = (await snapshotNames()).filter((name) => name.startsWith('sendense-'));
      expect(ours).toHaveLength(WITH_SNAPSHOT.has(moment.name) ? 1 : 0);
      // Someone else's snapshot, made after the kill: doctor must leave it.
      const theirs = await withClient((client, vm) =>
        import('../../src/vmware/snapshots.js').then(({ createSnapshot }) => createSnapshot(client, vm, THEIRS, false)),
      );
      const doctor = await sendenseRun(['doctor', '--db', ws.db], ENV);
      expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
      for (const left of processesTaggedBy(killed.pid))
        expect(await waitForProcessGone(left.pid), left.command.join(' ')).toBe(true);
      expect(await snapshotNames()).toEqual([THEIRS]);
      expect(recordedProcesses(ws.db)).toEqual([]);
      expect(leasedPorts(ws.db)).toEqual([]);
      expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
      expect(tableRows(ws.db, 'node_resources')).toEqual([]);
      expect(readListDirs()).toEqual([]);
      const again = await sendenseRun(['doctor', '--db', ws.db], ENV);
      expect(again.stdout, 'a second doctor finds nothing').toContain('nothing left behind');
      await withClient((client) =>
        import('../../src/vmware/snapshots.js').then(({ removeSnapshot }) => removeSnapshot(client, theirs)),
      );
      vcsim.repairDescriptors();

      await rememberNewPoints();
      for (const point of (await listBackups(ws.db, 'vmw')).filter((each) => each.status === 'complete'))
        for (const disk of point.disks)
          expect(differenceBetween(disk.file, copiesOf.get(point.id)!.get(disk.diskKey)!, 'raw'), point.id).toBe('');

      change();
      const next = await sendenseRun([plan, '--db', ws.db, '--json'], ENV);
      expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
      await rememberNewPoints();
      const newest = (await listBackups(ws.db, 'vmw')).filter((each) => each.status === 'complete').at(-1)!;
      expect(newest.type).toBe('incremental');
      for (const disk of newest.disks)
        expect(differenceBetween(disk.file, copiesOf.get(newest.id)!.get(disk.diskKey)!, 'raw')).toBe('');
      expect(await snapshotNames()).toEqual([]);
    }, 120_000);
  }

  it('simulated vSphere, after all those kills: every complete point restores (sendense-run restore, verify) byte for byte as the disks were', async () => {
    const points = (await listBackups(ws.db, 'vmw')).filter((each) => each.status === 'complete');
    expect(points.length).toBeGreaterThan(MOMENTS.length);
    for (const point of points) {
      const restored = await restoreToFiles({
        dir: ws.dir,
        db: ws.db,
        vm: 'vmw',
        repository: path.join(ws.dir, 'repository'),
        ports: [first, last],
        point: point.id,
        keys: [...SIZES.keys()],
      });
      for (const [key, file] of restored) {
        expect(differenceBetween(file, copiesOf.get(point.id)!.get(key)!, 'raw'), `${point.id} disk ${key}`).toBe('');
        rmSync(file);
      }
    }
  }, 300_000);
});
