// Bandwidth windows (docs/bandwidth.md): days and ranges of days, times of day, a window past
// midnight, the exact moments it opens and closes, and the hub's local time zone (TZ).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextWindowChange, openWindows, parseClock, parseDays, type RateWindow } from '../../src/rate/rate-windows.js';

const MiB = 1024 * 1024;
const savedTz = process.env.TZ;
beforeAll(() => {
  process.env.TZ = 'Europe/Berlin';
});
afterAll(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

function window(days: string, from: string, to: string, rate = 20 * MiB): RateWindow {
  return {
    days: parseDays(days)!,
    from: parseClock(from)!,
    to: parseClock(to, true)!,
    rate,
    text: `${days} ${from}-${to}`,
  };
}

// 2026-03-02 is a Monday; local time of the hub (TZ).
const at = (day: number, time: string) => {
  const [h, m, s] = time.split(':').map(Number) as [number, number, number?];
  return new Date(2026, 2, 2 + day, h, m, s ?? 0);
};
const MON = 0;
const FRI = 4;
const SAT = 5;
const SUN = 6;

describe('days and times', () => {
  it('days: a day, a list, a range, a range past Sunday', () => {
    expect(parseDays('mon')).toEqual([1]);
    expect(parseDays('sat,sun')).toEqual([0, 6]);
    expect(parseDays('mon-fri')).toEqual([1, 2, 3, 4, 5]);
    expect(parseDays('fri-mon')).toEqual([0, 1, 5, 6]);
    expect(parseDays('Mon - Wed, sat')).toEqual([1, 2, 3, 6]);
    for (const bad of ['', 'monday', 'mon-', 'mon-xyz', 'mon;tue', '1-5']) expect(parseDays(bad), bad).toBeUndefined();
  });

  it('times: HH:MM or HH:MM:SS; 24:00 only as an end', () => {
    expect(parseClock('08:00')).toBe(8 * 3600);
    expect(parseClock('8:30')).toBe(8 * 3600 + 30 * 60);
    expect(parseClock('18:00:30')).toBe(18 * 3600 + 30);
    expect(parseClock('00:00')).toBe(0);
    expect(parseClock('24:00')).toBeUndefined();
    expect(parseClock('24:00', true)).toBe(86400);
    for (const bad of ['25:00', '12:60', '12:00:60', '1200', '8', '08:00 pm', '24:01'])
      expect(parseClock(bad, true), bad).toBeUndefined();
  });
});

describe('which windows are open', () => {
  const office = window('mon-fri', '08:00', '18:00');
  const night = window('mon-fri', '22:00', '06:00', 100 * MiB);

  it('from its start to its end, on its days only', () => {
    expect(openWindows([office], at(MON, '07:59:59'))).toEqual([]);
    expect(openWindows([office], at(MON, '08:00:00'))).toEqual([office]);
    expect(openWindows([office], new Date(at(MON, '17:59:59').getTime() + 999))).toEqual([office]);
    expect(openWindows([office], at(MON, '18:00:00'))).toEqual([]);
    expect(openWindows([office], at(SAT, '10:00'))).toEqual([]);
  });

  it('a window past midnight belongs to the day it starts on', () => {
    expect(openWindows([night], at(FRI, '23:00'))).toEqual([night]);
    expect(openWindows([night], at(SAT, '05:59:59'))).toEqual([night]);
    expect(openWindows([night], at(SAT, '06:00'))).toEqual([]);
    expect(openWindows([night], at(SAT, '22:30'))).toEqual([]);
    // Monday morning would be Sunday's night: Sunday is not one of its days.
    expect(openWindows([night], at(MON, '03:00'))).toEqual([]);
    expect(openWindows([night], at(MON + 1, '03:00'))).toEqual([night]);
  });

  it('windows may overlap: each open one is listed', () => {
    const lunch = window('mon', '12:00', '13:00', 5 * MiB);
    expect(openWindows([office, lunch], at(MON, '12:30'))).toEqual([office, lunch]);
  });
});

describe('the next boundary', () => {
  const office = window('mon-fri', '08:00', '18:00');

  it('the next start or end, skipping days without the window', () => {
    expect(nextWindowChange([office], at(MON, '07:00'))).toEqual(at(MON, '08:00'));
    expect(nextWindowChange([office], at(MON, '08:00'))).toEqual(at(MON, '18:00'));
    expect(nextWindowChange([office], at(MON, '09:00'))).toEqual(at(MON, '18:00'));
    expect(nextWindowChange([office], at(FRI, '19:00'))).toEqual(at(MON + 7, '08:00'));
    expect(nextWindowChange([office], at(SUN, '23:59:59'))).toEqual(at(MON + 7, '08:00'));
  });

  it('to the second, past midnight, and never for a window always open', () => {
    const night = window('fri', '22:00:30', '06:00:15');
    expect(nextWindowChange([night], at(FRI, '12:00'))).toEqual(at(FRI, '22:00:30'));
    expect(nextWindowChange([night], at(FRI, '23:00'))).toEqual(at(SAT, '06:00:15'));
    const weekend = window('sat,sun', '00:00', '24:00');
    expect(nextWindowChange([weekend], at(SAT, '10:00'))).toEqual(at(MON + 7, '00:00'));
    expect(nextWindowChange([window('mon-sun', '00:00', '24:00')], at(MON, '10:00'))).toBeUndefined();
    expect(nextWindowChange([], at(MON, '10:00'))).toBeUndefined();
  });

  it('in the hub local time zone (TZ), summer time included', () => {
    const office8 = window('mon', '08:00', '18:00');
    // 07:30 UTC on a Monday in winter: 08:30 in Berlin (open), 02:30 in New York (closed).
    const instant = new Date('2026-03-02T07:30:00Z');
    expect(openWindows([office8], instant)).toEqual([office8]);
    process.env.TZ = 'America/New_York';
    try {
      expect(openWindows([office8], instant)).toEqual([]);
      expect(nextWindowChange([office8], instant)?.toISOString()).toBe('2026-03-02T13:00:00.000Z');
    } finally {
      process.env.TZ = 'Europe/Berlin';
    }
    // 29 March 2026 in Berlin: 02:00 becomes 03:00. A Sunday window 01:00-05:00 ends at 05:00
    // local time, 2.5 real hours after 01:30.
    const early = window('sun', '01:00', '05:00');
    const from = new Date(2026, 2, 29, 1, 30);
    const end = nextWindowChange([early], from)!;
    expect(end.getHours()).toBe(5);
    expect((end.getTime() - from.getTime()) / 3600_000).toBe(2.5);
  });
});
