// decideChain, the one decision that must never guess, case by case (fast: no qemu involved).
// Each case changes one fact of a disk that can continue its chain and names the outcome.

import { describe, expect, it } from 'vitest';
import { buildPlan } from '../../src/plan/build-plan.js';
import type { BackupPlan } from '../../src/plan/types.js';
import { bitmapName } from '../../src/repository/layout.js';
import { decideChain, type SourceDiskFacts } from '../../src/kinds/backup/chain-decision.js';
import type { Backup } from '../../src/store/index.js';

const MiB = 1024 * 1024;

function plan(
  kind: 'backup' | 'incremental',
  incremental: Record<string, unknown> = {},
  source: Record<string, unknown> = { type: 'qemu', disks: [{ key: 2000, path: '/vms/d0.qcow2', format: 'qcow2' }] },
): BackupPlan {
  return buildPlan(
    { version: 1, kind, name: 'p', vm: { name: 'vm', source }, repository: { path: '/repo' }, incremental },
    'p.yaml',
    [],
  ) as BackupPlan;
}

const previous: Backup = Object.freeze({
  id: 'b2',
  vm: 'vm',
  plan: 'p',
  type: 'incremental',
  chainId: 'c1',
  parentId: 'b1',
  status: 'complete',
  repository: '/repo',
  startedAt: '2026-11-21T02:00:00.000Z',
  completedAt: '2026-11-21T02:01:00.000Z',
  bytes: 1,
  runId: 'r2',
  verifiedAt: null,
  damage: null,
  protected: false,
  suspect: null,
  suspectClearedBy: null,
  suspectClearedAt: null,
  heldBy: null,
  disks: [
    {
      backupId: 'b2',
      diskKey: 2000,
      file: '/repo/vm/disk-2000/b2.qcow2',
      virtualSize: 64 * MiB,
      changeId: bitmapName('c1', 'b2'),
      bytes: 1,
      status: 'complete' as const,
      source: '/vms/d0.qcow2',
      sourceNode: 'this host',
      bitmap: bitmapName('c1', 'b2'),
      sample: null,
      manifest: true,
    },
  ],
});

const healthy: SourceDiskFacts = {
  key: 2000,
  source: { type: 'qemu', path: '/vms/d0.qcow2', format: 'qcow2' },
  virtualSize: 64 * MiB,
  path: '/vms/d0.qcow2',
  bitmaps: [{ name: bitmapName('c1', 'b2'), inUse: false, enabled: true, granularity: 65536 }],
  canStoreBitmaps: true,
};
const exists = () => undefined;

describe('decideChain', () => {
  it('continues the chain when every fact allows it', () => {
    expect(decideChain(plan('incremental'), previous, 2, [healthy], exists)).toEqual({ type: 'incremental' });
  });

  it('a backup plan is always a full', () => {
    expect(decideChain(plan('backup'), previous, 2, [healthy], exists)).toEqual({ type: 'full' });
  });

  it('no previous backup: a full (a note), or a failure with onMissingChain fail', () => {
    expect(decideChain(plan('incremental'), undefined, 0, [healthy], exists)).toMatchObject({
      type: 'full',
      note: expect.stringContaining('no complete backup'),
    });
    expect(decideChain(plan('incremental', { onMissingChain: 'fail' }), undefined, 0, [healthy], exists)).toMatchObject(
      { type: 'fail' },
    );
  });

  it('a chain at maxChainLength starts a new one', () => {
    expect(decideChain(plan('incremental', { maxChainLength: 2 }), previous, 2, [healthy], exists)).toMatchObject({
      type: 'full',
      note: expect.stringContaining('maxChainLength 2'),
    });
  });

  const cases: readonly [string, Partial<SourceDiskFacts>, (diskKey: number) => string | undefined, RegExp][] = [
    ['the disk changed size', { virtualSize: 128 * MiB }, exists, /changed size/],
    [
      'the parent file is missing or damaged',
      {},
      () => 'the file of backup b2 for disk 2000 is missing or unreadable: /repo/vm/disk-2000/b2.qcow2',
      /missing or unreadable/,
    ],
    ['the bitmap is missing', { bitmaps: [] }, exists, /is missing from/],
    [
      'the bitmap is inconsistent (in use on a closed image)',
      { bitmaps: [{ ...healthy.bitmaps![0]!, inUse: true }] },
      exists,
      /inconsistent/,
    ],
    ['the bitmap is disabled', { bitmaps: [{ ...healthy.bitmaps![0]!, enabled: false }] }, exists, /disabled/],
    ['a qcow2 v2 image cannot store bitmaps', { canStoreBitmaps: false }, exists, /qcow2 v2/],
    [
      'a raw image has no bitmaps',
      { source: { type: 'qemu', path: '/vms/d0.qcow2', format: 'raw' } },
      exists,
      /raw image/,
    ],
  ];
  for (const [name, change, fileOk, reason] of cases) {
    it(`${name}: a warned full, or a failure with onMissingChain fail`, () => {
      const facts = [{ ...healthy, ...change }];
      expect(decideChain(plan('incremental'), previous, 2, facts, fileOk)).toMatchObject({
        type: 'full',
        warning: expect.stringMatching(reason),
      });
      expect(decideChain(plan('incremental', { onMissingChain: 'fail' }), previous, 2, facts, fileOk)).toMatchObject({
        type: 'fail',
        reason: expect.stringMatching(reason),
      });
    });
  }

  it("a parent that records another chain's bitmap is never built on", () => {
    const other = bitmapName('c9', 'b7');
    const edited = { ...previous, disks: [{ ...previous.disks[0]!, changeId: other }] };
    const facts = [{ ...healthy, bitmaps: [{ ...healthy.bitmaps![0]!, name: other }] }];
    expect(decideChain(plan('incremental'), edited, 2, facts, exists)).toMatchObject({
      type: 'full',
      warning: expect.stringContaining(`records bitmap '${other}'`),
    });
  });

  it('one disk that cannot continue makes every disk a full (one point in time for the VM)', () => {
    const second: SourceDiskFacts = {
      ...healthy,
      key: 2001,
      path: '/vms/d1.qcow2',
      source: { type: 'qemu', path: '/vms/d1.qcow2', format: 'qcow2' },
      bitmaps: [],
    };
    const twoDisks = {
      ...previous,
      disks: [
        ...previous.disks,
        { ...previous.disks[0]!, diskKey: 2001, file: '/repo/vm/disk-2001/b2.qcow2', source: '/vms/d1.qcow2' },
      ],
    };
    expect(decideChain(plan('incremental'), twoDisks, 2, [healthy, second], exists)).toMatchObject({
      type: 'full',
      warning: expect.stringContaining('missing from /vms/d1.qcow2'),
    });
  });

  it('a disk the parent does not have starts a new chain', () => {
    const newDisk: SourceDiskFacts = { ...healthy, key: 2005 };
    expect(decideChain(plan('incremental'), previous, 2, [newDisk], exists)).toMatchObject({
      type: 'full',
      warning: expect.stringContaining('disk 2005 is not in backup b2'),
    });
  });
});
