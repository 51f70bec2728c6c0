// A run's effective rate (docs/bandwidth.md): the lowest of the plan's, the hub's and the open
// windows'; told to whoever listens at each window boundary, and no timer left once none listens.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { bandwidthOf, describeRate, UNLIMITED, type RateNow } from '../../src/rate/bandwidth.js';
import { parseClock, parseDays, type RateWindow } from '../../src/rate/rate-windows.js';

const MiB = 1024 * 1024;

function window(days: string, from: string, to: string, rate: number): RateWindow {
  return {
    days: parseDays(days)!,
    from: parseClock(from)!,
    to: parseClock(to, true)!,
    rate,
    text: `${days} ${from}-${to}`,
  };
}

const office = window('mon-fri', '08:00', '18:00', 20 * MiB);
// 2026-03-02 is a Monday (local time).
const monday = (time: string) => {
  const [h, m, s] = time.split(':').map(Number) as [number, number, number?];
  return new Date(2026, 2, 2, h, m, s ?? 0);
};

afterEach(() => {
  vi.useRealTimers();
});

describe('the effective rate', () => {
  it('none of plan, hub or windows: not limited, and nothing to listen to', () => {
    expect(bandwidthOf({})).toBe(UNLIMITED);
    expect(UNLIMITED.limited).toBe(false);
    expect(UNLIMITED.now()).toEqual({});
    expect(describeRate(UNLIMITED.now())).toBe('not limited');
  });

  it('the lowest of the plan rate, the hub rate and the open windows', () => {
    const at = (time: string) => () => monday(time);
    expect(bandwidthOf({ plan: 50 * MiB, hub: 80 * MiB, windows: [office] }, at('07:00')).now()).toEqual({
      bytesPerSecond: 50 * MiB,
      why: 'plan rate',
    });
    expect(bandwidthOf({ plan: 50 * MiB, hub: 30 * MiB, windows: [office] }, at('07:00')).now()).toEqual({
      bytesPerSecond: 30 * MiB,
      why: 'hub rate',
    });
    expect(bandwidthOf({ plan: 50 * MiB, hub: 30 * MiB, windows: [office] }, at('09:00')).now()).toEqual({
      bytesPerSecond: 20 * MiB,
      why: 'window mon-fri 08:00-18:00',
    });
    // A window above the plan's rate does not raise it.
    expect(bandwidthOf({ plan: 10 * MiB, windows: [office] }, at('09:00')).now()).toEqual({
      bytesPerSecond: 10 * MiB,
      why: 'plan rate',
    });
    const windowsOnly = bandwidthOf({ windows: [office] }, at('07:00'));
    expect(windowsOnly.limited).toBe(true);
    expect(windowsOnly.now()).toEqual({});
  });

  it('says it in one line: the rate now and the windows that change it', () => {
    expect(describeRate({ bytesPerSecond: 20 * MiB, why: 'window mon-fri 08:00-18:00' })).toBe(
      'limited to 20 MiB/s (window mon-fri 08:00-18:00)',
    );
    expect(describeRate({ bytesPerSecond: 1.5 * MiB, why: 'plan rate' })).toBe('limited to 1.5 MiB/s (plan rate)');
    expect(bandwidthOf({ plan: 16 * MiB }).describe()).toBe('limited to 16 MiB/s (plan rate)');
    expect(bandwidthOf({ hub: 50 * MiB, windows: [office] }, () => monday('07:00')).describe()).toBe(
      'limited to 50 MiB/s (hub rate) now; windows: mon-fri 08:00-18:00 20 MiB/s',
    );
    expect(bandwidthOf({ windows: [office] }, () => monday('07:00')).describe()).toBe(
      'not limited now; windows: mon-fri 08:00-18:00 20 MiB/s',
    );
  });
});

describe('changes at window boundaries', () => {
  it('a listener hears the new rate at the boundary, not before; none once it stops listening', () => {
    vi.useFakeTimers({ now: monday('07:59:58') });
    const bandwidth = bandwidthOf({ hub: 50 * MiB, windows: [office] });
    const heard: (RateNow & { at: string })[] = [];
    const stop = bandwidth.onChange((rate) => heard.push({ ...rate, at: new Date().toTimeString().slice(0, 8) }));
    vi.advanceTimersByTime(1999);
    expect(heard).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(heard).toEqual([{ bytesPerSecond: 20 * MiB, why: 'window mon-fri 08:00-18:00', at: '08:00:00' }]);
    // Ten hours on: the window closes at 18:00 (the timer looks again at least every minute).
    vi.advanceTimersByTime(10 * 3600_000);
    expect(heard.at(-1)).toEqual({ bytesPerSecond: 50 * MiB, why: 'hub rate', at: '18:00:00' });
    expect(heard).toHaveLength(2);
    stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('no listener: no timer; a rate without windows never changes', () => {
    vi.useFakeTimers({ now: monday('07:59:58') });
    bandwidthOf({ windows: [office] });
    expect(vi.getTimerCount()).toBe(0);
    const stop = bandwidthOf({ plan: 8 * MiB }).onChange(() => undefined);
    expect(vi.getTimerCount()).toBe(0);
    stop();
  });
});
