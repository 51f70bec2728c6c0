// The token bucket alone: the rate holds over time, first come first served, a rate change counts
// from that moment, no limit lets everything through, and a wait ends when its signal aborts.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket } from '../../src/rate/token-bucket.js';

const MiB = 1024 * 1024;

afterEach(() => {
  vi.useRealTimers();
});

// `takers` callers each taking `piece` bytes again and again for `seconds` of fake time: the
// moments (ms) their bytes were granted.
async function grants(
  bucket: TokenBucket,
  takers: number,
  piece: number,
  seconds: number,
  during?: (ms: number) => void,
): Promise<number[]> {
  const start = Date.now();
  const granted: number[] = [];
  let running = true;
  const taker = async () => {
    while (running) {
      await bucket.take(piece);
      if (running) granted.push(Date.now() - start);
    }
  };
  const all = Array.from({ length: takers }, taker);
  for (let ms = 0; ms < seconds * 1000; ms += 10) {
    during?.(ms);
    await vi.advanceTimersByTimeAsync(10);
  }
  running = false;
  bucket.setRate(undefined);
  await Promise.all(all);
  return granted;
}

describe('a token bucket', () => {
  it('holds to its rate over time, whatever the number of callers (fake clock)', async () => {
    vi.useFakeTimers({ now: 0 });
    const bucket = new TokenBucket(8 * MiB, () => Date.now());
    const granted = await grants(bucket, 16, 2 * MiB, 60);
    const bytes = granted.length * 2 * MiB;
    // Over a minute: within one request and the 0.1 s of burst of 8 MiB/s * 60 s.
    expect(Math.abs(bytes - 8 * MiB * 60)).toBeLessThanOrEqual(2 * MiB + 0.1 * 8 * MiB);
    // Steady: the grants are 0.25 s apart, none early.
    const gaps = granted.slice(2).map((ms, i) => ms - granted[i + 1]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(249);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(260);
  });

  it('a new rate counts from the moment it is set', async () => {
    vi.useFakeTimers({ now: 0 });
    const bucket = new TokenBucket(1 * MiB, () => Date.now());
    const granted = await grants(bucket, 4, 64 * 1024, 20, (ms) => ms === 10_000 && bucket.setRate(4 * MiB));
    const before = granted.filter((ms) => ms >= 1000 && ms < 10_000).length * 64 * 1024;
    const after = granted.filter((ms) => ms >= 11_000 && ms < 20_000).length * 64 * 1024;
    expect(before / 9).toBeGreaterThan(0.97 * MiB);
    expect(before / 9).toBeLessThan(1.03 * MiB);
    expect(after / 9).toBeGreaterThan(0.97 * 4 * MiB);
    expect(after / 9).toBeLessThan(1.03 * 4 * MiB);
    expect(bucket.rate).toBeUndefined();
  });

  it('first come, first served', async () => {
    vi.useFakeTimers({ now: 0 });
    const bucket = new TokenBucket(1 * MiB, () => Date.now());
    const order: number[] = [];
    const takes = [1, 2, 3, 4].map((n) => bucket.take(512 * 1024).then(() => order.push(n)));
    await vi.advanceTimersByTimeAsync(2000);
    await Promise.all(takes);
    expect(order).toEqual([1, 2, 3, 4]);
  });

  it('no limit: every take goes at once; a limit set later applies to the next takes', async () => {
    vi.useFakeTimers({ now: 0 });
    const bucket = new TokenBucket(undefined, () => Date.now());
    for (let i = 0; i < 100; i++) await bucket.take(64 * MiB);
    bucket.setRate(1 * MiB);
    await bucket.take(MiB);
    let second = false;
    void bucket.take(MiB).then(() => (second = true));
    await vi.advanceTimersByTimeAsync(900);
    expect(second).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    expect(second).toBe(true);
  });

  it('an aborted wait rejects with its reason and gives up its turn', async () => {
    vi.useFakeTimers({ now: 0 });
    const bucket = new TokenBucket(1 * MiB, () => Date.now());
    await bucket.take(MiB);
    const controller = new AbortController();
    const waiting = bucket.take(MiB, controller.signal);
    let next = false;
    void bucket.take(MiB).then(() => (next = true));
    controller.abort(new Error('disk 2000 failed'));
    await expect(waiting).rejects.toThrow('disk 2000 failed');
    await vi.advanceTimersByTimeAsync(1100);
    expect(next).toBe(true);
    await expect(bucket.take(1, controller.signal)).rejects.toThrow('disk 2000 failed');
  });

  it('refuses a rate that is not a positive number', () => {
    expect(() => new TokenBucket(0)).toThrow(RangeError);
    expect(() => new TokenBucket(Number.NaN)).toThrow(RangeError);
  });

  it('in real time: never more than 8 MiB/s allows, from its start, over three seconds', async () => {
    const created = performance.now();
    const bucket = new TokenBucket(8 * MiB);
    const piece = 256 * 1024;
    const grants: { at: number; total: number }[] = [];
    let total = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (performance.now() - created < 3000) {
          await bucket.take(piece);
          total += piece;
          // Seen after the grant, so never earlier than it: a loaded machine only makes this later.
          grants.push({ at: performance.now(), total });
        }
      }),
    );
    expect(grants.length).toBeGreaterThan(2);
    // The ceiling: by any moment, the rate times the time since the bucket was made, plus its
    // burst (a tenth of a second of data) and the one request that overdraws it.
    for (const { at, total: granted } of grants)
      expect(granted, `${granted} bytes by ${(at - created).toFixed(1)} ms`).toBeLessThanOrEqual(
        8 * MiB * ((at - created) / 1000) + 0.1 * 8 * MiB + piece,
      );
  });
});
