// A libvirt domain on a node reached over SSH (a real sshd, in a network namespace of the test's
// own when allowed): virsh runs on the node, the job's socket is read there, the data comes
// through the tunnel; a run killed mid-way is cleaned up by doctor over SSH with the node settings
// the run recorded. Two plans (two repositories) back up the one domain independently.

import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countersAreOnePointInTime, startGuest, virsh, type TestGuest } from '../support/libvirt-guest.js';
import { imagesEqual } from '../support/images.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { nodeBlock, startTestNode, type TestNode } from '../ssh/ssh-node.js';
import { restorePoint, writeLibvirtPlan } from './libvirt-plans.js';
import { killAtEnv } from '../../src/crash-points.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-ssh-', { per: 'file' });
let guest: TestGuest;
let node: TestNode;
let plan: string;
let other: string;
let scratch: string;

beforeAll(async () => {
  [guest, node] = await Promise.all([startGuest({ name: 'ssh' }), startTestNode()]);
  scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  const common = { vm: 'sshvm', domain: guest.name, ports, scratch, node: { ...nodeBlock(node) } };
  plan = writeLibvirtPlan(ws.dir, { ...common, name: 'ssh-hourly', repository: ws.repository });
  other = writeLibvirtPlan(ws.dir, {
    ...common,
    name: 'ssh-offsite',
    repository: path.join(ws.dir, 'second-repository'),
  });
}, 180_000);
afterAll(async () => {
  guest?.remove();
  await node?.stop();
});

const ourCheckpoints = () =>
  virsh('checkpoint-list', guest.name, '--name')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('sendense-'))
    .sort();

async function backUp(file: string): Promise<string> {
  const result = await sendenseRun([file, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return /backup (\S+)$/m.exec(result.stdout)![1]!;
}

describe('a libvirt domain on an SSH node', () => {
  it('full and incremental through the tunnel, each one point in time; a second repository keeps its own checkpoints', async () => {
    const full = await backUp(plan);
    const theirs = await backUp(other);
    const incremental = await backUp(plan);
    const theirsNext = await backUp(other);
    const mine = await listBackups(ws.db, 'sshvm');
    expect(mine.filter((backup) => backup.status === 'complete').map((backup) => [backup.id, backup.type])).toEqual([
      [full, 'full'],
      [theirs, 'full'],
      [incremental, 'incremental'],
      [theirsNext, 'incremental'],
    ]);
    // Each repository's newest checkpoint, and only those.
    expect(ourCheckpoints()).toEqual(
      [
        mine.find((b) => b.id === incremental)!.disks[0]!.changeId,
        mine.find((b) => b.id === theirsNext)!.disks[0]!.changeId,
      ].sort(),
    );
    const restored = await restorePoint(ws.dir, {
      vm: 'sshvm',
      repository: ws.repository,
      ports,
      db: ws.db,
      point: incremental,
    });
    expect(countersAreOnePointInTime(restored.counters)).toBe(true);
    restored.remove();
  });

  it('a run killed after its job started: doctor ends the job and removes what it took, over SSH', async () => {
    const run = startSendenseRun([plan, '--db', ws.db], killAtEnv('libvirt.job-started'));
    expect((await run.exited).signal).toBe('SIGKILL');
    expect(readdirSync(scratch)).not.toEqual([]);
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toMatch(/backup job of domain .* on root@.*: end it: done/);
    expect(virsh('domjobinfo', guest.name)).toMatch(/Job type:\s+None/);
    expect(readdirSync(scratch)).toEqual([]);
    expect(ourCheckpoints()).toHaveLength(2);
  });

  it('shut off, the next incremental through the node restores exactly the images', async () => {
    guest.destroy();
    const last = await backUp(plan);
    const restored = await restorePoint(ws.dir, {
      vm: 'sshvm',
      repository: ws.repository,
      ports,
      db: ws.db,
      point: last,
    });
    expect(imagesEqual(restored.files[2000]!, guest.images.vda!)).toBe(true);
    expect(imagesEqual(restored.files[2001]!, guest.images.vdb!)).toBe(true);
  });
});
