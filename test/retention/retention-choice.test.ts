// Which chains retention deletes: only chains older than the N newest with a complete full,
// never one a running backup builds on; failed leftovers of old chains go too.

import { describe, expect, it } from 'vitest';
import { chainsToDelete } from '../../src/kinds/backup/retention-choice.js';
import type { Backup } from '../../src/store/index.js';

let clock = 0;
function backup(
  id: string,
  chainId: string,
  type: Backup['type'],
  status: Backup['status'],
  parentId: string | null = null,
  isProtected = false,
): Backup {
  clock++;
  return {
    id,
    vm: 'vm',
    plan: 'p',
    type,
    chainId,
    parentId,
    status,
    repository: '/repo',
    startedAt: new Date(Date.UTC(2026, 0, 1, 0, clock)).toISOString(),
    completedAt: null,
    bytes: 0,
    runId: `run-${id}`,
    verifiedAt: null,
    damage: null,
    protected: isProtected,
    suspect: null,
    suspectClearedBy: null,
    suspectClearedAt: null,
    heldBy: null,
    disks: [],
  };
}

const ids = (chains: readonly { chainId: string }[]) => chains.map((chain) => chain.chainId);

describe('chainsToDelete', () => {
  it('keeps the N newest chains with a complete full; an incomplete newer full does not count', () => {
    const backups = [
      backup('a', 'a', 'full', 'complete'),
      backup('a1', 'a', 'incremental', 'complete', 'a'),
      backup('b', 'b', 'full', 'complete'),
      backup('c', 'c', 'full', 'running'),
    ];
    const choice = chainsToDelete(backups, 1, 'b');
    expect(ids(choice.kept)).toEqual(['b']);
    expect(ids(choice.delete)).toEqual(['a']);
    expect(chainsToDelete(backups, 2, 'b').delete).toEqual([]);
  });

  it('never deletes a chain a running backup builds on, and says why', () => {
    const backups = [
      backup('a', 'a', 'full', 'complete'),
      backup('a1', 'a', 'incremental', 'running', 'a'),
      backup('b', 'b', 'full', 'complete'),
    ];
    const choice = chainsToDelete(backups, 1, 'b');
    expect(choice.delete).toEqual([]);
    expect(choice.protected.map((chain) => [chain.chainId, chain.reason])).toEqual([
      ['a', 'backup a1 (run run-a1) is still running on it'],
    ]);
  });

  it('never deletes a chain with a protected point, and says why', () => {
    const backups = [
      backup('a', 'a', 'full', 'complete'),
      backup('a1', 'a', 'incremental', 'complete', 'a', true),
      backup('b', 'b', 'full', 'complete'),
    ];
    const choice = chainsToDelete(backups, 1, 'b');
    expect(choice.delete).toEqual([]);
    expect(choice.protected.map((chain) => [chain.chainId, chain.reason])).toEqual([['a', 'point a1 is protected']]);
  });

  it('old failed chains are deleted too; a failed chain newer than the kept ones is left alone', () => {
    const backups = [
      backup('x', 'x', 'full', 'failed'),
      backup('a', 'a', 'full', 'complete'),
      backup('a1', 'a', 'incremental', 'failed', 'a'),
      backup('b', 'b', 'full', 'complete'),
      backup('y', 'y', 'full', 'failed'),
    ];
    const choice = chainsToDelete(backups, 1, 'b');
    expect(ids(choice.delete)).toEqual(['x', 'a']);
    expect(choice.delete[1].backups.map((b) => b.id)).toEqual(['a', 'a1']);
  });
});
