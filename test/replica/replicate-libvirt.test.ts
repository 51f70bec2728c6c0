// Replication of a running libvirt domain between two nodes on this host (two real sshd on
// 127.0.0.1, each its own SSH link from the hub), the busybox guest writing all the time: every
// sync's newest point is one point in time and newer than the last, only `points` are kept, a
// shut-off domain's replica equals its images exactly, a backup plan of the same domain keeps its
// own chain, and kill -9 at any moment of a sync leaves the previous point intact after doctor.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { countersAreOnePointInTime, readCounters, startGuest, virsh, virshResult, type Counters, type TestGuest } from '../support/libvirt-guest.js';
import { imagesEqual } from '../support/images.js';
import { NotedProcesses, identify, killIfAlive, waitForProcessGone } from '../support/processes.js';
import { leasedPorts, processesTaggedBy, recordedProcesses, tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, startSendenseRun, type RunEventLine } from '../support/sendense-cli.js';
import { startSshd, type TestSshd } from '../support/sshd.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { writeLibvirtPlan } from '../libvirt/libvirt-plans.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('replicate-libvirt-', { per: 'file' });
const noted = new NotedProcesses();
const seen = new Set<number>();
let guest: TestGuest;
let sourceNode: TestSshd;
let replicaNode: TestSshd;
let plan: string;
let replicaDir: string;
const replicaDomain = 'sendense-test-repl-replica';

const nodeBlock = (sshd: TestSshd) => ({ host: sshd.host, port: sshd.port, user: sshd.user, identityFile: sshd.identityFile, knownHosts: sshd.knownHosts });
const replicaPath = (key: number) => path.join(replicaDir, `repl-${key}.qcow2`);

beforeAll(async () => {
  [guest, sourceNode, replicaNode] = await Promise.all([startGuest({ name: 'repl' }), startSshd(), startSshd()]);
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  // Under the guest's 0755 directory: the replica domain's QEMU must reach it.
  replicaDir = path.join(guest.dir, 'replica');
  mkdirSync(replicaDir, { mode: 0o755 });
  plan = path.join(ws.dir, 'repl.yaml');
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'replicate',
      name: 'repl-5min',
      vm: { name: 'repl', source: { type: 'libvirt', domain: guest.name, scratch } },
      node: nodeBlock(sourceNode),
      replica: { node: nodeBlock(replicaNode), path: path.join(replicaDir, 'repl-{key}.qcow2'), points: 3, domain: replicaDomain, scratch },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
}, 180_000);
afterEach(() => {
  noted.killAll();
  for (const pid of seen) for (const left of processesTaggedBy(pid)) killIfAlive(identify(left.pid));
  seen.clear();
});
afterAll(async () => {
  if (virshResult('domstate', replicaDomain).status === 0) {
    virshResult('destroy', replicaDomain);
    virshResult('undefine', replicaDomain);
  }
  guest?.remove();
  await sourceNode?.stop();
  await replicaNode?.stop();
});

const replicaCounters = (): Counters => readCounters(replicaPath(2000), replicaPath(2001));
const ourCheckpoints = () =>
  virsh('checkpoint-list', guest.name, '--name')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('sendense-'))
    .sort();

interface PointRow {
  readonly id: string;
  readonly status: string;
  readonly type: string;
  readonly disks: readonly { readonly changeId: string | null; readonly layer: string }[];
}
function points(): PointRow[] {
  const rows = tableRows(ws.db, 'replica_points') as unknown as { id: string; status: string; type: string }[];
  const disks = tableRows(ws.db, 'replica_point_disks') as unknown as { point_id: string; change_id: string | null; layer: string; disk_key: number }[];
  return rows
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((row) => ({
      ...row,
      disks: disks
        .filter((disk) => disk.point_id === row.id)
        .sort((a, b) => a.disk_key - b.disk_key)
        .map((disk) => ({ changeId: disk.change_id, layer: disk.layer })),
    }));
}
const complete = () => points().filter((point) => point.status === 'complete');

async function sync(): Promise<string> {
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return /replica point (\S+)$/m.exec(result.stdout)![1]!;
}

async function letGuestWrite(rounds = 2): Promise<void> {
  const from = guest.rounds();
  while (guest.rounds() < from + rounds) await new Promise((resolve) => setTimeout(resolve, 200));
}

// Every file beside replica.path is replica.path itself or the layer of a complete point.
function strayReplicaFiles(): string[] {
  const layers = new Set(complete().flatMap((point) => point.disks.map((disk) => path.basename(disk.layer))));
  return readdirSync(replicaDir).filter((file) => !layers.has(file) && file !== 'repl-2000.qcow2' && file !== 'repl-2001.qcow2');
}

describe('replication of a running libvirt domain to another node', () => {
  it('ten syncs while the guest writes: each newest point is one point in time and newer than the last; 3 points are kept', async () => {
    let last = 0;
    const made: string[] = [];
    for (let round = 0; round < 10; round++) {
      made.push(await sync());
      const counters = replicaCounters();
      expect(countersAreOnePointInTime(counters), JSON.stringify(counters)).toBe(true);
      expect(counters.vda64).toBeGreaterThan(last);
      last = counters.vda64;
      await letGuestWrite();
    }
    const kept = complete();
    expect(kept.map((point) => point.id)).toEqual(made.slice(-3));
    expect(kept[0]!.type).toBe('incremental');
    expect(strayReplicaFiles()).toEqual([]);
    // replica.path is the newest point; its backing chain holds the two before it.
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--backing-chain', '--output=json', replicaPath(2000)], { encoding: 'utf8' })) as { filename: string }[];
    expect(info.map((image) => path.basename(image.filename))).toEqual([
      'repl-2000.qcow2',
      ...kept
        .slice(0, 2)
        .reverse()
        .map((point) => path.basename(point.disks[0]!.layer)),
    ]);
    // Only the replica's own checkpoint stays on the domain.
    expect(ourCheckpoints()).toEqual([kept.at(-1)!.disks[0]!.changeId]);
    // The replica domain is defined on the replica node, not started, on replica.path.
    expect(virsh('domstate', replicaDomain).trim()).toBe('shut off');
    expect(virsh('domblklist', replicaDomain)).toContain(replicaPath(2000));
    const history = await sendenseRun(['history', '--db', ws.db, '--limit', '1']);
    expect(history.stdout).toMatch(/incremental/);
    expect(history.stdout).toMatch(/note: replica point \S+ \(incremental\) on .*, lag \d+:\d\d/);
  }, 300_000);

  it('a backup plan of the same domain keeps its own chain beside the replica', async () => {
    const backupPlan = writeLibvirtPlan(ws.dir, { name: 'repl-nightly', vm: 'repl', domain: guest.name, repository: ws.repository, ports, scratch: path.join(guest.dir, 'scratch') });
    const first = await sendenseRun([backupPlan, '--db', ws.db]);
    expect(first.exitCode, first.stderr).toBe(0);
    await sync();
    const second = await sendenseRun([backupPlan, '--db', ws.db]);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/incremental on/);
    const next = await sendenseRun([plan, '--db', ws.db]);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stdout).toMatch(/changes since point/);
    expect(ourCheckpoints()).toHaveLength(2);
  }, 120_000);

  it('shut off: a sync makes the replica equal to the domain\u2019s images exactly', async () => {
    guest.destroy();
    try {
      await sync();
      expect(imagesEqual(guest.images.vda!, replicaPath(2000))).toBe(true);
      expect(imagesEqual(guest.images.vdb!, replicaPath(2001))).toBe(true);
    } finally {
      await guest.start();
    }
  }, 120_000);
});

const STEPS = ['resolve-sync', 'create-layers', 'start-replica-nbd', 'transfer', 'install-point', 'define-replica-domain'];
const MOMENTS: readonly { readonly name: string; readonly accept?: (event: RunEventLine) => boolean; readonly env?: Record<string, string> }[] = [
  ...STEPS.map((step) => ({ name: `at the start of ${step}`, accept: (e: RunEventLine) => e.type === 'step-start' && e.step === step })),
  { name: 'just after the backup job started', env: { SENDENSE_TEST_KILL_AT: 'job-started' } },
  { name: 'every disk written, not yet installed', env: { SENDENSE_TEST_KILL_AT: 'sync-written' } },
  { name: 'one disk installed, the other not', env: { SENDENSE_TEST_KILL_AT: 'sync-half-installed' } },
  { name: 'while folding the oldest point', env: { SENDENSE_TEST_KILL_AT: 'fold-started' } },
];

describe('kill -9 at any moment of a sync', () => {
  for (const moment of MOMENTS) {
    it(`${moment.name}: after doctor the replica is a complete point, nothing is left, the next sync works`, async () => {
      const before = replicaCounters();
      const cli = startSendenseRun([plan, '--db', ws.db], moment.env ?? {});
      seen.add(cli.pid);
      noted.add(cli.pid);
      if (moment.accept) {
        await cli.waitForEvent(moment.accept).catch(() => undefined);
        try {
          process.kill(cli.pid, 'SIGKILL');
        } catch {
          // it ended by itself: the checks below still hold
        }
      }
      const ended = await cli.exited;
      if (moment.env) expect(ended.signal).toBe('SIGKILL');
      const doctor = await sendenseRun(['doctor', '--db', ws.db]);
      expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
      for (const left of processesTaggedBy(cli.pid)) expect(await waitForProcessGone(left.pid, 5000), left.command.join(' ')).toBe(true);
      expect(recordedProcesses(ws.db)).toEqual([]);
      expect(leasedPorts(ws.db)).toEqual([]);
      expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
      expect(tableRows(ws.db, 'node_resources')).toEqual([]);
      expect(points().filter((point) => !['complete', 'failed', 'folded'].includes(point.status))).toEqual([]);
      // The replica is one point in time, as new as before or newer (a sync written whole is installed).
      const after = replicaCounters();
      expect(countersAreOnePointInTime(after), JSON.stringify(after)).toBe(true);
      expect(after.vda64).toBeGreaterThanOrEqual(before.vda64);
      expect(strayReplicaFiles()).toEqual([]);
      expect(readdirSync(path.join(guest.dir, 'scratch'))).toEqual([]);
      expect(virsh('domjobinfo', guest.name)).toMatch(/Job type:\s+None/);
      const again = await sendenseRun(['doctor', '--db', ws.db]);
      expect(again.stdout, 'a second doctor finds nothing').toContain('nothing left behind');
      const next = await sendenseRun([plan, '--db', ws.db]);
      expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
      expect(next.stdout).toMatch(/changes since point/);
      expect(countersAreOnePointInTime(replicaCounters())).toBe(true);
    }, 120_000);
  }
});
