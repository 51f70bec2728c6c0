// Rates measured from a run's --json events (docs/bandwidth.md): its progress events with their
// times, the bytes per second between two moments, and clock times for hub windows in tests. And
// the bytes a transfer process read, counted by the kernel and sampled from outside it: a rate
// test judges the limiter by these, which a starved CPU cannot make look faster than they went.

import { readFileSync } from 'node:fs';
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

// What a node transfer held to `limit` may have read in a window of the samples below
// (docs/bandwidth.md#how-exact-it-is): it issues its READs at the limit, but the data of those
// issued before the window comes when the source answers, and on a busy host a late source
// answers several at once inside it. So: the limit over the window, plus what may be in flight
// (16 requests of 2 MiB for the one disk these tests copy), the bucket's tenth of a second and the
// one request that overdraws it. A limiter that let a stalled transfer catch up, or ignored a new
// rate, reads more than that over these tests' windows.
export function expectTransferWithinLimit(measured: { rate: number; seconds: number }, limit: number): void {
  const MiB = 1024 * 1024;
  expect(measured.rate).toBeGreaterThan(0);
  const allowed = limit * measured.seconds + 16 * 2 * MiB + limit * 0.1 + 2 * MiB;
  expect(measured.rate * measured.seconds).toBeLessThanOrEqual(allowed);
}

export interface ReadSample {
  /** When the counter was read: not before `from`, not after `to` (Date.now() ms). */
  readonly from: number;
  readonly to: number;
  /** The process's rchar: every byte its read() calls returned, NBD replies included. */
  readonly bytes: number;
}

// Samples /proc/PID/io every `everyMs` until the process is gone or stop() is called. The
// kernel's counter and the clock are read together, whenever this (maybe starved) test process
// gets to run: a late sample is late with its own time, unlike an event stamped when it is read.
export function sampleReadBytes(pid: number, everyMs = 200): { stop(): ReadSample[] } {
  const samples: ReadSample[] = [];
  const take = () => {
    const from = Date.now();
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/io`, 'utf8');
    } catch {
      clearInterval(timer);
      return;
    }
    const bytes = Number(/^rchar: (\d+)$/m.exec(text)?.[1]);
    samples.push({ from, to: Date.now(), bytes });
  };
  const timer = setInterval(take, everyMs);
  take();
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

// The bytes per second read between the first sample taken at or after `from` and the last one
// taken at or before `to`, over the longest time the two readings may be apart (so a sample taken
// late by a starved CPU makes the rate lower, never higher).
export function readRateBetween(
  samples: readonly ReadSample[],
  from: number,
  to: number,
): { rate: number; seconds: number } {
  const inside = samples.filter((sample) => sample.from >= from && sample.to <= to);
  if (inside.length < 2) return { rate: 0, seconds: 0 };
  const [a, b] = [inside[0]!, inside.at(-1)!];
  const seconds = (b.to - a.from) / 1000;
  return { rate: (b.bytes - a.bytes) / seconds, seconds };
}

// The samples while the process was reading: from the first that saw bytes come to the first
// that saw all of them (the counter's last value).
export function whileReading(samples: readonly ReadSample[]): ReadSample[] {
  const last = samples.at(-1)?.bytes ?? 0;
  const first = samples.findIndex((sample) => sample.bytes > samples[0]!.bytes);
  const end = samples.findIndex((sample) => sample.bytes === last);
  return first < 0 ? [] : samples.slice(Math.max(0, first - 1), end + 1);
}
