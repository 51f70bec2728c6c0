// Bandwidth windows of the hub config (docs/bandwidth.md): on these days, from one time of day to
// another, at most this rate. Times are the hub's local time (TZ respected). A window whose `to`
// comes before its `from` runs past midnight and belongs to the day it starts on.

export interface RateWindow {
  /** The days it starts on, 0 = Sunday to 6 = Saturday (Date#getDay). */
  readonly days: readonly number[];
  /** Seconds after local midnight. */
  readonly from: number;
  /** Seconds after local midnight, up to 86400 (24:00); before `from`: the next day. */
  readonly to: number;
  /** Bytes per second. */
  readonly rate: number;
  /** As people read it: "mon-fri 08:00-18:00". */
  readonly text: string;
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAY_SECONDS = 24 * 3600;

// "mon-fri", "sat,sun", "mon", "fri-mon" (a range may wrap past Sunday): the days, sorted.
export function parseDays(text: string): number[] | undefined {
  const days = new Set<number>();
  for (const part of text.toLowerCase().split(',')) {
    const match = /^\s*([a-z]{3})\s*(?:-\s*([a-z]{3})\s*)?$/.exec(part);
    const first = match ? DAY_NAMES.indexOf(match[1]!) : -1;
    const last = match?.[2] === undefined ? first : DAY_NAMES.indexOf(match[2]);
    if (first < 0 || last < 0) return undefined;
    for (let day = first; ; day = (day + 1) % 7) {
      days.add(day);
      if (day === last) break;
    }
  }
  return [...days].sort((a, b) => a - b);
}

// "HH:MM" or "HH:MM:SS" as seconds after midnight; "24:00" only where `endOfDay` allows it.
export function parseClock(text: string, endOfDay = false): number | undefined {
  const match = /^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$/.exec(text);
  if (!match) return undefined;
  const [hours, minutes, seconds] = [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
  if (hours === 24 && minutes === 0 && seconds === 0) return endOfDay ? DAY_SECONDS : undefined;
  if (hours > 23 || minutes > 59 || seconds > 59) return undefined;
  return hours * 3600 + minutes * 60 + seconds;
}

// The windows open at that moment.
export function openWindows(windows: readonly RateWindow[], at: Date): RateWindow[] {
  const day = at.getDay();
  const time = at.getHours() * 3600 + at.getMinutes() * 60 + at.getSeconds() + at.getMilliseconds() / 1000;
  return windows.filter((window) => {
    if (window.from < window.to) return window.days.includes(day) && time >= window.from && time < window.to;
    // Past midnight: the evening of a day it starts on, or the morning after one.
    return (
      (window.days.includes(day) && time >= window.from) || (window.days.includes((day + 6) % 7) && time < window.to)
    );
  });
}

// The first moment after `at` at which a window opens or closes; undefined when none ever does.
export function nextWindowChange(windows: readonly RateWindow[], at: Date): Date | undefined {
  const now = openWindows(windows, at);
  const candidates: Date[] = [];
  // Every window repeats weekly: eight days of starts and ends hold the next change, if any.
  for (let day = 0; day <= 8; day++) {
    for (const window of windows) {
      for (const seconds of [window.from, window.to]) {
        // Built from local fields, so a day that changes to or from summer time keeps its clock times.
        const candidate = new Date(at.getFullYear(), at.getMonth(), at.getDate() + day, 0, 0, seconds);
        if (candidate.getTime() > at.getTime()) candidates.push(candidate);
      }
    }
  }
  candidates.sort((a, b) => a.getTime() - b.getTime());
  return candidates.find((candidate) => !sameWindows(openWindows(windows, candidate), now));
}

function sameWindows(a: readonly RateWindow[], b: readonly RateWindow[]): boolean {
  return a.length === b.length && a.every((window, index) => window === b[index]);
}

// "08:00", "08:00:30": as a window's text shows a time.
export function formatClock(seconds: number): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const hms = [Math.floor(seconds / 3600), Math.floor((seconds % 3600) / 60), seconds % 60];
  return hms[2] === 0 ? `${two(hms[0]!)}:${two(hms[1]!)}` : hms.map(two).join(':');
}
