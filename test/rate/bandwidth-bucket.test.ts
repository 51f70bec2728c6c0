// A token bucket that follows a run's bandwidth: it starts at the rate now, a change lets what
// waits go at the new rate (and is told once it holds), and stop() stops listening.

import { describe, expect, it } from 'vitest';
import type { Bandwidth, RateNow } from '../../src/rate/bandwidth.js';
import { bandwidthBucket } from '../../src/rate/bandwidth-bucket.js';

// A bandwidth whose changes the test makes.
function handBandwidth(start: RateNow): Bandwidth & { change(rate: RateNow): void; readonly listening: number } {
  const listeners = new Set<(rate: RateNow) => void>();
  let now = start;
  return {
    limited: true,
    now: () => now,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    describe: () => undefined,
    change(rate) {
      now = rate;
      for (const listener of listeners) listener(rate);
    },
    get listening() {
      return listeners.size;
    },
  };
}

describe('a bandwidth bucket', () => {
  it('holds to the rate now, follows each change, and stops listening', async () => {
    const bandwidth = handBandwidth({ bytesPerSecond: 1, why: 'plan rate' });
    const heard: RateNow[] = [];
    const bucket = bandwidthBucket(bandwidth, (rate) => heard.push(rate));
    expect(bandwidth.listening).toBe(1);
    // The first request goes at once and overdraws the bucket: the next waits 1000 s at 1 B/s.
    await bucket.take(1000);
    let second = false;
    const waiting = bucket.take(1).then(() => (second = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(second).toBe(false);
    // No limit any more: it goes now, not in 1000 s (past this test's timeout).
    bandwidth.change({});
    await waiting;
    expect(second).toBe(true);
    expect(heard).toEqual([{}]);
    bucket.stop();
    expect(bandwidth.listening).toBe(0);
  });

  it('a wait ends when its signal aborts', async () => {
    const bucket = bandwidthBucket(handBandwidth({ bytesPerSecond: 10, why: 'hub rate' }));
    await bucket.take(1000);
    const controller = new AbortController();
    const waiting = bucket.take(1, controller.signal);
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    bucket.stop();
  });
});
