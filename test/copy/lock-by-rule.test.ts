// objectLock's per-rule days (docs/copies.md#object-lock) on injected points: each kept point gets
// the most days of the rules that keep it, and the points below it in its chain at least as many,
// so nothing a long-locked point is built on can be deleted before it.

import { describe, expect, it } from 'vitest';
import { lockDays } from '../../src/copy/lock-by-rule.js';
import type { PrunablePoint } from '../../src/retention/prune-choice.js';

// A point of one 1 GiB disk: a full, or an incremental on `parentId`.
const point = (id: string, startedAt: string, parentId: string | null = null): PrunablePoint => ({
  id,
  type: parentId === null ? 'full' : 'incremental',
  parentId,
  status: 'complete',
  startedAt,
  disks: [{ diskKey: 2000, virtualSize: 1 << 30 }],
});

// One chain: a full, then incrementals, each on the one before.
const chain = (...times: string[]): PrunablePoint[] =>
  times.map((startedAt, index) => point(`p${index}`, startedAt, index === 0 ? null : `p${index - 1}`));

describe('objectLock per retention rule', () => {
  it('gives each kept point the longest days of its rules, objectLock.days to the others', () => {
    // Three chains: a0 <- a1, then the fulls b and c.
    const points = [
      point('a0', '2026-09-15T12:00:00Z'),
      point('a1', '2026-10-15T12:00:00Z', 'a0'),
      point('b', '2026-11-19T08:00:00Z'),
      point('c', '2026-11-20T12:00:00Z'),
    ];
    const days = lockDays(
      points,
      { mode: 'compliance', days: 7, keepDaily: 30, keepMonthly: 400 },
      { keepLast: 1, keepDaily: 3, keepMonthly: 3 },
    );
    // monthly: 2026-11 (c), 2026-10 (a1), 2026-09 (a0); daily: 11-20 (c), 11-19 (b), 10-15 (a1).
    expect(Object.fromEntries(days)).toEqual({ a0: 400, a1: 400, b: 30, c: 400 });
  });

  it('a point others are built on is locked as long as the longest of them', () => {
    // p1 is the month's point (400 days); p0, a daily point, is its full: it must outlive it.
    const points = chain('2026-11-18T08:00:00Z', '2026-11-20T08:00:00Z');
    const days = lockDays(
      points,
      { mode: 'governance', days: 7, keepDaily: 30, keepMonthly: 400 },
      { keepDaily: 2, keepMonthly: 1 },
    );
    expect(Object.fromEntries(days)).toEqual({ p0: 400, p1: 400 });
  });

  it('without per-rule days, every kept point gets objectLock.days', () => {
    const points = chain('2026-11-18T08:00:00Z', '2026-11-19T08:00:00Z', '2026-11-20T08:00:00Z');
    expect(Object.fromEntries(lockDays(points, { mode: 'compliance', days: 14 }, { keepLast: 2 }))).toEqual({
      p0: 14,
      p1: 14,
      p2: 14,
    });
  });
});
