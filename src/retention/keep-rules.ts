// Which points the keep-* rules keep (docs/how-it-works.md#retention), the way Proxmox Backup Server's prune
// marks them: newest first, keepLast, then each period rule in turn; a rule counts only periods
// no earlier rule already kept a point in, and keeps the newest point of each. Decided on times
// alone (no clock: "the last N days that have one"), in the plan's timezone.

export interface KeepRules {
  readonly keepLast?: number;
  readonly keepHourly?: number;
  readonly keepDaily?: number;
  readonly keepWeekly?: number;
  readonly keepMonthly?: number;
  readonly keepYearly?: number;
}

export type KeepRuleName = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';

export interface TimedPoint {
  readonly id: string;
  /** When the point was taken (ISO-8601). */
  readonly takenAt: string;
}

export interface PointVerdict {
  readonly id: string;
  /** Why it is kept, e.g. ["daily 2026-11-20", "monthly 2026-11"]; empty = not kept. */
  readonly keptBy: readonly string[];
}

const PERIOD_RULES: readonly (readonly [KeepRuleName, keyof KeepRules])[] = [
  ['hourly', 'keepHourly'],
  ['daily', 'keepDaily'],
  ['weekly', 'keepWeekly'],
  ['monthly', 'keepMonthly'],
  ['yearly', 'keepYearly'],
];

export function hasKeepRules(rules: KeepRules): boolean {
  return ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'].some(
    (key) => rules[key as keyof KeepRules] !== undefined,
  );
}

// One verdict per point, in the order given: the order they were taken in, oldest first. Newest
// is by that order, never by takenAt: a hub clock set back (NTP stepping a clock that ran fast)
// stamps the point just taken older than the ones before it, and keepLast must still keep it
// (docs/how-it-works.md#retention). takenAt only says which hour, day... a point falls in.
export function markPoints(
  points: readonly TimedPoint[],
  rules: KeepRules,
  timeZone?: string,
): readonly PointVerdict[] {
  const newestFirst = [...points].reverse();
  const reasons = new Map<string, string[]>(points.map((point) => [point.id, []]));
  const marked = new Set<string>();
  const kept = new Set<string>();
  newestFirst.slice(0, rules.keepLast ?? 0).forEach((point, index) => {
    marked.add(point.id);
    kept.add(point.id);
    reasons.get(point.id)!.push(`last ${index + 1}`);
  });
  for (const [name, key] of PERIOD_RULES) {
    const count = rules[key];
    if (count === undefined) continue;
    const periodOf = (point: TimedPoint) => periodId(name, point.takenAt, timeZone);
    // Periods a point kept so far already stands for are not counted again (PBS "already included").
    const covered = new Map<string, string>();
    for (const point of newestFirst)
      if (kept.has(point.id) && !covered.has(periodOf(point))) covered.set(periodOf(point), point.id);
    const chosen = new Set<string>();
    const seen = new Set<string>();
    let full = false;
    for (const point of newestFirst) {
      const period = periodOf(point);
      if (marked.has(point.id) || covered.has(period)) {
        seen.add(period);
        continue;
      }
      if (!chosen.has(period)) {
        if (chosen.size >= count) {
          full = true;
          break;
        }
        chosen.add(period);
        kept.add(point.id);
        reasons.get(point.id)!.push(`${name} ${period}`);
      }
      marked.add(point.id);
    }
    // A point kept by an earlier rule also stands for its period here: said, so the dry run explains it.
    for (const [period, id] of covered) {
      if (!full || seen.has(period)) reasons.get(id)!.push(`${name} ${period}`);
    }
  }
  return points.map((point) => ({ id: point.id, keptBy: reasons.get(point.id)! }));
}

// hourly 2026-11-20T14, daily 2026-11-20, weekly 2026-W47 (ISO week), monthly 2026-11, yearly 2026:
// in `timeZone` (an hour a DST change repeats is one hour here, as its clock reads).
export function periodId(rule: KeepRuleName, takenAt: string, timeZone?: string): string {
  const { year, month, day, hour } = localDate(new Date(takenAt), timeZone);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (rule === 'hourly') return `${year}-${pad(month)}-${pad(day)}T${pad(hour)}`;
  if (rule === 'daily') return `${year}-${pad(month)}-${pad(day)}`;
  if (rule === 'monthly') return `${year}-${pad(month)}`;
  if (rule === 'yearly') return String(year);
  const { weekYear, week } = isoWeek(year, month, day);
  return `${weekYear}-W${pad(week)}`;
}

function localDate(time: Date, timeZone?: string): { year: number; month: number; day: number; hour: number } {
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    hourCycle: 'h23',
  }).formatToParts(time);
  const part = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  return { year: part('year'), month: part('month'), day: part('day'), hour: part('hour') };
}

// ISO 8601 week: the week with the year's first Thursday is week 1; weeks start on Monday.
function isoWeek(year: number, month: number, day: number): { weekYear: number; week: number } {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = (date.getUTCDay() + 6) % 7; // Monday 0
  date.setUTCDate(date.getUTCDate() - weekday + 3); // the Thursday of this week
  const weekYear = date.getUTCFullYear();
  const firstThursday = new Date(Date.UTC(weekYear, 0, 4));
  firstThursday.setUTCDate(firstThursday.getUTCDate() - ((firstThursday.getUTCDay() + 6) % 7) + 3);
  return { weekYear, week: 1 + Math.round((date.getTime() - firstThursday.getTime()) / (7 * 86400000)) };
}
