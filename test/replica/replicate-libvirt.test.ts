// Replication of a running libvirt domain between two nodes on this host (./replica-scene.ts), the
// busybox guest writing all the time: every sync's newest point is one point in time and newer
// than the last, only `points` are kept, a shut-off domain's replica equals its images exactly, and
// a backup plan of the same domain keeps its own chain. kill -9 during a sync:
// ./replicate-libvirt-crash.test.ts.

import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { countersAreOnePointInTime, virsh } from '../support/libvirt-guest.js';
import { imagesEqual } from '../support/images.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { writeLibvirtPlan } from '../libvirt/libvirt-plans.js';
import { useReplicaScene } from './replica-scene.js';

const scene = useReplicaScene('repl');
const {
  ws,
  ports,
  replicaDomain,
  replicaPath,
  replicaCounters,
  ourCheckpoints,
  complete,
  sync,
  letGuestWrite,
  strayReplicaFiles,
} = scene;

describe('replication of a running libvirt domain to another node', () => {
  it('five syncs while the guest writes: each newest point is one point in time and newer than the last; 3 points are kept', async () => {
    let last = 0;
    const made: string[] = [];
    for (let round = 0; round < 5; round++) {
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
    const info = JSON.parse(
      execFileSync('qemu-img', ['info', '-U', '--backing-chain', '--output=json', replicaPath(2000)], {
        encoding: 'utf8',
      }),
    ) as { filename: string }[];
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
    const backupPlan = writeLibvirtPlan(ws.dir, {
      name: 'repl-nightly',
      vm: 'repl',
      domain: scene.guest().name,
      repository: ws.repository,
      ports,
      scratch: path.join(scene.guest().dir, 'scratch'),
    });
    const first = await sendenseRun([backupPlan, '--db', ws.db]);
    expect(first.exitCode, first.stderr).toBe(0);
    await sync();
    const second = await sendenseRun([backupPlan, '--db', ws.db]);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/incremental on/);
    const next = await sendenseRun([scene.plan(), '--db', ws.db]);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stdout).toMatch(/changes since point/);
    expect(ourCheckpoints()).toHaveLength(2);
  }, 120_000);

  it('shut off: a sync makes the replica equal to the domain\u2019s images exactly', async () => {
    scene.guest().destroy();
    try {
      await sync();
      expect(imagesEqual(scene.guest().images.vda!, replicaPath(2000))).toBe(true);
      expect(imagesEqual(scene.guest().images.vdb!, replicaPath(2001))).toBe(true);
    } finally {
      await scene.guest().start();
    }
  }, 120_000);
});
