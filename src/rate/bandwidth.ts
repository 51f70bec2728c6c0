// The effective rate of a run's data path (docs/bandwidth.md): the lowest of the plan's rate, the
// hub's rate and the rate of the hub's windows open now; none of them = not limited. A data path
// asks what it is now and hears each change (a window opening or closing) while it listens.

import { formatRate } from './rate-text.js';
import { nextWindowChange, openWindows, type RateWindow } from './rate-windows.js';

/** The limit at one moment: bytes per second (undefined = none) and where it comes from. */
export interface RateNow {
  readonly bytesPerSecond?: number;
  /** "plan rate", "hub rate", "window mon-fri 08:00-18:00"; undefined when not limited. */
  readonly why?: string;
}

export interface Bandwidth {
  /** Some limit may apply during a run (a rate, or a window that may open): copy a way that can be limited. */
  readonly limited: boolean;
  now(): RateNow;
  /** Hears each change of the rate (at window boundaries) until the returned function is called. */
  onChange(listener: (rate: RateNow) => void): () => void;
  /** For --dry-run and titles: the rate now, and the windows that may change it. */
  describe(): string | undefined;
}

export interface BandwidthLimits {
  /** The plan's `rate`, bytes per second. */
  readonly plan?: number;
  /** The hub config's `rate`. */
  readonly hub?: number;
  readonly windows?: readonly RateWindow[];
}

// Longest a timer waits before looking again: a clock set forward or back is noticed within it.
const LONGEST_WAIT_MS = 60_000;

export const UNLIMITED: Bandwidth = Object.freeze({
  limited: false,
  now: () => ({}),
  onChange: () => () => undefined,
  describe: () => undefined,
});

export function bandwidthOf(limits: BandwidthLimits, clock: () => Date = () => new Date()): Bandwidth {
  const windows = limits.windows ?? [];
  if (limits.plan === undefined && limits.hub === undefined && windows.length === 0) return UNLIMITED;
  const rateAt = (at: Date): RateNow => {
    const candidates: RateNow[] = [
      ...(limits.plan === undefined ? [] : [{ bytesPerSecond: limits.plan, why: 'plan rate' }]),
      ...(limits.hub === undefined ? [] : [{ bytesPerSecond: limits.hub, why: 'hub rate' }]),
      ...openWindows(windows, at).map((window) => ({ bytesPerSecond: window.rate, why: `window ${window.text}` })),
    ];
    return candidates.reduce<RateNow>(
      (lowest, next) =>
        lowest.bytesPerSecond === undefined || next.bytesPerSecond! < lowest.bytesPerSecond ? next : lowest,
      {},
    );
  };
  const listeners = new Set<(rate: RateNow) => void>();
  let timer: NodeJS.Timeout | undefined;
  let current = rateAt(clock());
  // While someone listens and a window may change the rate: wake at the next boundary.
  const arm = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (listeners.size === 0 || windows.length === 0) return;
    const now = clock();
    const next = nextWindowChange(windows, now);
    if (next === undefined) return;
    timer = setTimeout(wake, Math.min(LONGEST_WAIT_MS, Math.max(1, next.getTime() - now.getTime())));
    timer.unref();
  };
  const wake = (): void => {
    const rate = rateAt(clock());
    const changed = rate.bytesPerSecond !== current.bytesPerSecond || rate.why !== current.why;
    current = rate;
    arm();
    if (changed) for (const listener of [...listeners]) listener(rate);
  };
  return Object.freeze({
    limited: true,
    now: () => rateAt(clock()),
    onChange(listener: (rate: RateNow) => void) {
      if (listeners.size === 0) current = rateAt(clock());
      listeners.add(listener);
      if (listeners.size === 1) arm();
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) arm();
      };
    },
    describe() {
      const now = describeRate(rateAt(clock()));
      const others = windows.map((window) => `${window.text} ${formatRate(window.rate)}`);
      return others.length === 0 ? now : `${now} now; windows: ${others.join(', ')}`;
    },
  });
}

// "limited to 20 MiB/s (window mon-fri 08:00-18:00)", or "not limited".
export function describeRate(rate: RateNow): string {
  if (rate.bytesPerSecond === undefined) return 'not limited';
  return `limited to ${formatRate(rate.bytesPerSecond)}${rate.why === undefined ? '' : ` (${rate.why})`}`;
}
