// A VM's points summed up for `status` and the metrics file (src/repository/vm-points.ts): the
// newest point is the one taken last, even when a hub clock set back stamped it older.

import { describe, expect, it } from 'vitest';
import { summarizeVmPoints } from '../../src/repository/vm-points.js';
import type { Backup } from '../../src/store/index.js';

// Only what the summary reads of a backup record.
const point = (id: string, startedAt: string, chainId: string) =>
  ({
    id,
    vm: 'web1',
    repository: '/nonexistent-repo',
    status: 'complete',
    startedAt,
    chainId,
    verifiedAt: null,
  }) as unknown as Backup;

describe('the points of a VM', () => {
  it('newest and oldest go by the order taken, not by the times (a clock set back a day before the third)', () => {
    const taken = [
      point('p1', '2026-11-20T02:00:00.000Z', 'c1'),
      point('p2', '2026-11-21T02:00:00.000Z', 'c1'),
      point('p3', '2026-11-20T01:00:00.000Z', 'c1'),
    ];
    const summary = summarizeVmPoints(taken, '/nonexistent-repo', 'web1');
    expect(summary.newest?.id).toBe('p3');
    expect(summary.oldest?.id).toBe('p1');
    expect(summary.points).toBe(3);
    expect(summary.chainLength).toBe(3);
  });
});
