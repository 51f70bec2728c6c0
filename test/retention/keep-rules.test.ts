// The keep-* rules on injected times (no clock, no sleeps): Proxmox Backup Server's counting,
// the reasons the dry run shows, ISO weeks and the plan's timezone.

import { describe, expect, it } from 'vitest';
import { markPoints, periodId } from '../../src/retention/keep-rules.js';

const points = (...times: string[]) => times.map((takenAt, index) => ({ id: `p${index}`, takenAt }));
const kept = (verdicts: readonly { id: string; keptBy: readonly string[] }[]) =>
  verdicts.filter((v) => v.keptBy.length > 0).map((v) => v.id);

describe('keep rules', () => {
  it('keepLast keeps the last N points in the order they were taken, whatever their times (a clock set back)', () => {
    // Taken in this order; the third on a clock set back two days, so its time is the oldest.
    const list = points('2026-11-20T02:00:00Z', '2026-11-21T02:00:00Z', '2026-11-19T02:00:00Z');
    const verdicts = markPoints(list, { keepLast: 2 });
    expect(kept(verdicts)).toEqual(['p1', 'p2']);
    expect(verdicts[2]!.keptBy).toEqual(['last 1']);
  });

  it('keepDaily keeps the newest point of each of the last N days that have one (days without a point do not count)', () => {
    const list = points(
      '2026-11-10T01:00:00Z',
      '2026-11-10T23:00:00Z',
      '2026-11-14T02:00:00Z',
      '2026-11-20T01:00:00Z',
      '2026-11-20T05:00:00Z',
    );
    expect(kept(markPoints(list, { keepDaily: 2 }))).toEqual(['p2', 'p4']);
    expect(kept(markPoints(list, { keepDaily: 5 }))).toEqual(['p1', 'p2', 'p4']);
  });

  it('a period rule skips periods an earlier rule already kept a point in (PBS), and names them as reasons too', () => {
    // Three points a day for 3 days in November, one in October and one in September.
    const list = points(
      '2026-09-15T12:00:00Z',
      '2026-10-15T12:00:00Z',
      '2026-11-18T08:00:00Z',
      '2026-11-19T08:00:00Z',
      '2026-11-20T08:00:00Z',
      '2026-11-20T12:00:00Z',
    );
    const verdicts = markPoints(list, { keepLast: 1, keepDaily: 2, keepMonthly: 2 });
    // last: p5; daily: 2026-11-20 is covered by p5, so 11-19 (p3) and 11-18 (p2); monthly: 2026-11 is
    // covered and not counted, so 2026-10 (p1) and 2026-09 (p0).
    expect(kept(verdicts)).toEqual(['p0', 'p1', 'p2', 'p3', 'p5']);
    expect(verdicts[5]!.keptBy).toEqual(['last 1', 'daily 2026-11-20', 'monthly 2026-11']);
    expect(verdicts[3]!.keptBy).toEqual(['daily 2026-11-19']);
    expect(verdicts[1]!.keptBy).toEqual(['monthly 2026-10']);
    expect(verdicts[4]!.keptBy).toEqual([]);
    expect(verdicts[0]!.keptBy).toEqual(['monthly 2026-09']);
    expect(kept(markPoints(list, { keepLast: 1, keepDaily: 2, keepMonthly: 1 }))).toEqual(['p1', 'p2', 'p3', 'p5']);
  });

  it('weekly uses ISO weeks and yearly the calendar year', () => {
    expect(periodId('weekly', '2026-01-01T12:00:00Z', 'UTC')).toBe('2026-W01');
    expect(periodId('weekly', '2027-01-01T12:00:00Z', 'UTC')).toBe('2026-W53');
    expect(periodId('weekly', '2024-12-30T12:00:00Z', 'UTC')).toBe('2025-W01');
    const list = points('2025-12-29T10:00:00Z', '2026-01-04T10:00:00Z', '2026-01-05T10:00:00Z', '2026-06-01T10:00:00Z');
    expect(kept(markPoints(list, { keepWeekly: 2 }))).toEqual(['p2', 'p3']);
    expect(kept(markPoints(list, { keepYearly: 2 }))).toEqual(['p0', 'p3']);
  });

  it("days are the plan's timezone's days", () => {
    // 03:30 UTC on the 21st is still the 20th in New York.
    const list = points('2026-11-20T15:00:00Z', '2026-11-21T03:30:00Z');
    expect(kept(markPoints(list, { keepDaily: 5 }, 'UTC'))).toEqual(['p0', 'p1']);
    expect(kept(markPoints(list, { keepDaily: 5 }, 'America/New_York'))).toEqual(['p1']);
    expect(markPoints(list, { keepDaily: 5 }, 'America/New_York')[1]!.keptBy).toEqual(['daily 2026-11-20']);
  });

  it('keepHourly keeps the newest point of each of the last N hours that have one, before the daily rule counts', () => {
    const list = points(
      '2026-11-19T23:10:00Z',
      '2026-11-20T08:05:00Z',
      '2026-11-20T08:50:00Z',
      '2026-11-20T10:20:00Z',
      '2026-11-20T11:00:00Z',
      '2026-11-20T11:59:59Z',
    );
    const verdicts = markPoints(list, { keepHourly: 3, keepDaily: 2 }, 'UTC');
    // hourly: 11 (p5), 10 (p3), 08 (p2); daily: 2026-11-20 is covered, so 11-19 (p0).
    expect(kept(verdicts)).toEqual(['p0', 'p2', 'p3', 'p5']);
    expect(verdicts[5]!.keptBy).toEqual(['hourly 2026-11-20T11', 'daily 2026-11-20']);
    expect(verdicts[2]!.keptBy).toEqual(['hourly 2026-11-20T08']);
    expect(verdicts[0]!.keptBy).toEqual(['daily 2026-11-19']);
    expect(kept(markPoints(list, { keepLast: 1, keepHourly: 1 }, 'UTC'))).toEqual(['p3', 'p5']);
  });

  it("hours are the plan's timezone's hours; an hour a DST change repeats counts once", () => {
    expect(periodId('hourly', '2026-11-20T00:30:00Z', 'UTC')).toBe('2026-11-20T00');
    expect(periodId('hourly', '2026-11-20T00:30:00Z', 'Asia/Kolkata')).toBe('2026-11-20T06');
    // 2026-11-01 in New York: 01:00-02:00 happens twice (05:xx and 06:xx UTC).
    const list = points('2026-11-01T05:20:00Z', '2026-11-01T06:40:00Z');
    expect(markPoints(list, { keepHourly: 5 }, 'America/New_York').map((v) => v.keptBy)).toEqual([
      [],
      ['hourly 2026-11-01T01'],
    ]);
  });
});
