// Replica points (migrations/012-replica-points.ts): a sync's layers recorded per disk, its status
// moving to the replica's newest point, listings by plan and status, and the failover record; on
// SQLite and on PostgreSQL alike.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { DIALECTS, useStoreTarget } from '../support/store-dialects.js';

// Beyond 32 bits: sizes and byte counts are bigint on PostgreSQL.
const BIG = 2 ** 40 + 3;

describe.each(DIALECTS)('replica points on %s', (dialect) => {
  const target = useStoreTarget(dialect);
  let store: Store;
  let runId: string;

  beforeEach(async () => {
    store = await openStore(target.db);
    runId = (await store.createRun({ plan: 'standby', kind: 'replicate', trigger: 'manual' })).id;
  });

  afterEach(async () => {
    await store.close();
  });

  const disk = (key: number, pointId: string) => ({
    diskKey: key,
    path: `/replica/web1-disk-${key}.qcow2`,
    layer: `/replica/web1-disk-${key}.${pointId}.qcow2`,
    virtualSize: BIG,
    source: `/vms/web1-disk-${key}.qcow2`,
  });

  // A point of plan `plan` with disks 2000 and 2001, written (not yet complete) when `written`.
  async function point(id: string, options: { plan?: string; parentId?: string; written?: boolean } = {}) {
    const plan = options.plan ?? 'standby';
    const chainId = options.parentId === undefined ? id : (await store.getReplicaPoint(options.parentId))!.chainId;
    await store.createReplicaPoint({
      id,
      plan,
      vm: 'web1',
      type: options.parentId ? 'incremental' : 'full',
      chainId,
      parentId: options.parentId,
      runId,
      sourceNode: 'this host',
      replicaNode: 'root@replica:22',
    });
    for (const key of [2000, 2001]) {
      await store.addReplicaPointDisk(id, disk(key, id));
      if (options.written !== false)
        await store.completeReplicaPointDisk(id, key, { changeId: `sendense-${id}`, bytes: key === 2000 ? BIG : 7 });
    }
  }

  async function completePoint(id: string, options: { plan?: string; parentId?: string } = {}) {
    await point(id, options);
    await store.setReplicaPointStatus(id, 'complete');
  }

  it('records a point with two disks, written and installed into the newest complete point', async () => {
    await point('20261121-020000-7f3a', { written: false });
    const running = await store.getReplicaPoint('20261121-020000-7f3a');
    expect(Object.isFrozen(running)).toBe(true);
    expect(running).toMatchObject({
      plan: 'standby',
      vm: 'web1',
      type: 'full',
      chainId: '20261121-020000-7f3a',
      parentId: null,
      status: 'running',
      runId,
      sourceNode: 'this host',
      replicaNode: 'root@replica:22',
      takenAt: null,
      completedAt: null,
      bytes: null,
      definition: null,
    });
    expect(running!.startedAt).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(running!.disks).toEqual([
      { pointId: '20261121-020000-7f3a', ...disk(2000, '20261121-020000-7f3a'), changeId: null, bytes: null },
      { pointId: '20261121-020000-7f3a', ...disk(2001, '20261121-020000-7f3a'), changeId: null, bytes: null },
    ]);

    await store.replicaPointTaken('20261121-020000-7f3a', '2026-11-21T02:00:01.000Z');
    await store.completeReplicaPointDisk('20261121-020000-7f3a', 2000, { changeId: 'cp-1', bytes: BIG });
    await expect(store.setReplicaPointStatus('20261121-020000-7f3a', 'installing')).rejects.toThrow(
      /incomplete disks 2001/,
    );
    await store.completeReplicaPointDisk('20261121-020000-7f3a', 2001, { changeId: null, bytes: 5 });
    await store.setReplicaPointStatus('20261121-020000-7f3a', 'installing', { definition: '<domain/>' });
    const installing = await store.getReplicaPoint('20261121-020000-7f3a');
    expect(installing).toMatchObject({
      status: 'installing',
      takenAt: '2026-11-21T02:00:01.000Z',
      completedAt: null,
      bytes: BIG + 5,
      definition: '<domain/>',
    });
    expect(await store.latestCompleteReplicaPoint('standby')).toBeUndefined();

    await store.setReplicaPointStatus('20261121-020000-7f3a', 'complete');
    const complete = await store.latestCompleteReplicaPoint('standby');
    expect(complete).toMatchObject({
      id: '20261121-020000-7f3a',
      status: 'complete',
      bytes: BIG + 5,
      definition: '<domain/>',
    });
    expect(complete!.completedAt).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(complete!.disks.map((d) => [d.diskKey, d.changeId, d.bytes, d.virtualSize])).toEqual([
      [2000, 'cp-1', BIG, BIG],
      [2001, null, 5, BIG],
    ]);
  });

  it('offers only complete points as the newest: running, failed and folding ones are not', async () => {
    await completePoint('p1');
    await completePoint('p2', { parentId: 'p1' });
    await point('p3', { parentId: 'p2' });
    await point('p4', { parentId: 'p2' });
    await store.setReplicaPointStatus('p4', 'failed');
    expect((await store.latestCompleteReplicaPoint('standby'))?.id).toBe('p2');

    await store.setReplicaPointStatus('p2', 'folding');
    expect((await store.latestCompleteReplicaPoint('standby'))?.id).toBe('p1');
    await store.setReplicaPointStatus('p2', 'folded');
    expect((await store.latestCompleteReplicaPoint('standby'))?.id).toBe('p1');
    expect(await store.latestCompleteReplicaPoint('elsewhere')).toBeUndefined();
  });

  it('refuses moves a point cannot make, and parents that are not complete points of the plan', async () => {
    await point('p1');
    await store.setReplicaPointStatus('p1', 'failed');
    await expect(store.setReplicaPointStatus('p1', 'complete')).rejects.toThrow(/cannot go from failed to complete/);
    await expect(point('p2', { parentId: 'p1' })).rejects.toThrow(/not a complete point of plan standby/);
    await completePoint('p3');
    await expect(point('p4', { plan: 'other', parentId: 'p3' })).rejects.toThrow(/not a complete point of plan other/);
    await expect(store.completeReplicaPointDisk('p3', 9, { changeId: null, bytes: 1 })).rejects.toThrow(
      /has no disk 9/,
    );
    expect((await store.getReplicaPoint('p1'))?.status).toBe('failed');
  });

  it('lists points oldest first, by plan and by status', async () => {
    await completePoint('x1');
    await completePoint('x2', { plan: 'other' });
    await completePoint('x3', { parentId: 'x1' });
    await point('x4', { parentId: 'x3' });
    await store.setReplicaPointStatus('x1', 'folding');
    expect((await store.listReplicaPoints()).map((p) => p.id)).toEqual(['x1', 'x2', 'x3', 'x4']);
    expect((await store.listReplicaPoints({ plan: 'standby' })).map((p) => p.id)).toEqual(['x1', 'x3', 'x4']);
    expect(
      (await store.listReplicaPoints({ plan: 'standby', statuses: ['complete', 'running'] })).map((p) => p.id),
    ).toEqual(['x3', 'x4']);
    expect((await store.listReplicaPoints({ statuses: ['complete'] })).map((p) => p.id)).toEqual(['x2', 'x3']);
    expect(await store.listReplicaPoints({ statuses: [] })).toEqual([]);
    expect((await store.listReplicaPoints({ plan: 'standby' }))[2]!.disks.map((d) => d.diskKey)).toEqual([2000, 2001]);
  });

  it('orders points as they were recorded, not by their times: a point taken on a clock set back is still the newest', async () => {
    await completePoint('y1');
    await completePoint('y2', { parentId: 'y1' });
    // The hub's clock set back a day (NTP stepping a clock that ran fast): y3 is stamped oldest.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() - 86_400_000, shouldAdvanceTime: true });
    try {
      await completePoint('y3', { parentId: 'y2' });
    } finally {
      vi.useRealTimers();
    }
    const listed = await store.listReplicaPoints({ plan: 'standby' });
    expect(Date.parse(listed[2]!.startedAt)).toBeLessThan(Date.parse(listed[0]!.startedAt));
    expect(listed.map((p) => p.id)).toEqual(['y1', 'y2', 'y3']);
    // The next sync builds on it, a failover starts it, folding starts from y1.
    expect((await store.latestCompleteReplicaPoint('standby'))?.id).toBe('y3');
  });

  it('records one failover per plan until it is forgotten', async () => {
    await completePoint('p1');
    expect(await store.replicaFailover('standby')).toBeUndefined();
    await store.recordReplicaFailover({
      plan: 'standby',
      pointId: 'p1',
      runId,
      domain: 'web1-replica',
      node: 'root@replica:22',
    });
    const failover = await store.replicaFailover('standby');
    expect(failover).toMatchObject({
      plan: 'standby',
      pointId: 'p1',
      runId,
      domain: 'web1-replica',
      node: 'root@replica:22',
    });
    expect(failover!.at).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(Object.isFrozen(failover)).toBe(true);
    await expect(
      store.recordReplicaFailover({
        plan: 'standby',
        pointId: 'p1',
        runId,
        domain: 'web1-replica',
        node: 'root@replica:22',
      }),
    ).rejects.toThrow(/failed over already/);
    expect(await store.replicaFailover('other')).toBeUndefined();
    await store.forgetReplicaFailover('standby');
    expect(await store.replicaFailover('standby')).toBeUndefined();
  });
});
