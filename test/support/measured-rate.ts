// Rates measured from a run's --json events (docs/bandwidth.md): its progress events with their
// times, the bytes per second between two moments, and clock times for hub windows in tests.

import { expect } from 'vitest';
import type { RunEventLine } from './sendense-cli.js';

export type TimedEvent = RunEventLine & { readonly time: string; readonly title?: string };

export interface ProgressPoint {
  readonly ms: number;
  readonly bytes: number;
}

// One disk's progress events as (ms, bytes done).
export function progressOf(events: readonly TimedEvent[], disk: number): ProgressPoint[] {
  return events
    .filter((event) => event.type === 'progress' && event.disk === disk)
    .map((event) => ({ ms: Date.parse(event.time), bytes: event.bytesDone! }));
}

// Bytes per second between the first point at or after `from` and the last at or before `to`.
export function rateBetween(
  points: readonly ProgressPoint[],
  from: number,
  to: number,
): { rate: number; seconds: number } {
  const inside = points.filter((point) => point.ms >= from && point.ms <= to);
  const [a, b] = [inside[0]!, inside.at(-1)!];
  const seconds = (b.ms - a.ms) / 1000;
  return { rate: (b.bytes - a.bytes) / seconds, seconds };
}

// A measured rate that kept to its limit (within `tolerance`, 0.05: 5%, for the measuring) and
// moved. Only the ceiling: a loaded machine may well go slower than a limit, never faster.
export function expectWithinLimit(rate: number, limit: number, tolerance: number): void {
  expect(rate).toBeGreaterThan(0);
  expect(rate / limit).toBeLessThan(1 + tolerance);
}

// "HH:MM:SS" in this host's local time (the hub's windows are in local time).
export function localClock(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

// A window as messages show it: "mon-sun 08:00:30-10:00:30", whole minutes without their ":00".
export function windowText(days: string, from: Date, to: Date): string {
  const shown = (date: Date) => localClock(date).replace(/:00$/, '');
  return `${days} ${shown(from)}-${shown(to)}`;
}
