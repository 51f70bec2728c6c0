// The longer locks of objectLock.keepMonthly and its kin (docs/copies.md#object-lock): after the
// copy's merges, each point copy.retention keeps is locked for the most days of the rules that keep
// it, and every point it is built on at least as long (its chain must outlive it). A lock shorter
// than that is extended; none is ever shortened (S3 lets a compliance lock be extended, not cut).

import path from 'node:path';
import type { KeepRules } from '../retention/keep-rules.js';
import { choosePrune, type PrunablePoint } from '../retention/prune-choice.js';
import type { ObjectLock } from '../plan/types.js';
import type { ObjectLocks } from './copy-target.js';
import { readCopyPoints, type CopyPlace, type HubPoint } from './copy-retention.js';

const DAY_MS = 86_400_000;
// A lock this close to the date it should reach is not extended again (not once a run, for every object).
const SLACK_MS = DAY_MS;

export interface LocksExtended {
  readonly points: number;
  readonly objects: number;
}

/**
 * The days each point of the copy (oldest first) is to stay locked: the most of objectLock's for
 * the rules that keep it, and for a point others are built on, the most of theirs too.
 */
export function lockDays(
  points: readonly PrunablePoint[],
  lock: ObjectLock,
  rules: KeepRules,
  timeZone?: string,
): Map<string, number> {
  const days = new Map<string, number>();
  for (const decision of choosePrune(points, rules, timeZone)) {
    if (decision.action !== 'keep') continue;
    // keptBy: "monthly 2" (the rule, and which of its N it counts as).
    const byRule = decision.keptBy.map(
      (reason) => lock[RULE_KEYS[reason.split(' ')[0] as keyof typeof RULE_KEYS]] ?? 0,
    );
    days.set(decision.backup.id, Math.max(lock.days, ...byRule));
  }
  // Newest first: a point's days reach every point below it in its chain.
  for (const point of [...points].reverse()) {
    const own = days.get(point.id) ?? 0;
    if (point.parentId !== null && own > (days.get(point.parentId) ?? 0)) days.set(point.parentId, own);
  }
  return days;
}

/** Whether objectLock locks the points some rule keeps longer than `days`. */
export function locksLonger(lock: ObjectLock): boolean {
  return Object.values(RULE_KEYS).some((rule) => lock[rule] !== undefined);
}

const RULE_KEYS = {
  last: 'keepLast',
  daily: 'keepDaily',
  weekly: 'keepWeekly',
  monthly: 'keepMonthly',
  yearly: 'keepYearly',
} as const;

export async function lockKeptPoints(
  place: CopyPlace,
  extender: ObjectLocks,
  vm: string,
  rules: KeepRules,
  hub: ReadonlyMap<string, HubPoint>,
  timeZone?: string,
): Promise<LocksExtended> {
  const { lock } = extender;
  const points = await readCopyPoints(place, vm, hub);
  const days = lockDays(points, lock, rules, timeZone);
  const listed = await place.target.list(vm);
  let [extendedPoints, objects] = [0, 0];
  for (const point of points) {
    const want = days.get(point.id) ?? 0;
    if (want <= lock.days) continue;
    const until = new Date(Date.now() + want * DAY_MS);
    const files = [
      ...point.disks.flatMap((disk) => [
        `disk-${disk.diskKey}/${point.id}.qcow2`,
        `disk-${disk.diskKey}/${point.id}.json`,
      ]),
      `domain/${point.id}.xml`,
    ].filter((file) => listed.has(file));
    let any = false;
    for (const file of files) {
      if (await extender.extendLock(path.posix.join(vm, file), lock.mode, until, SLACK_MS)) {
        objects++;
        any = true;
      }
    }
    if (any) extendedPoints++;
  }
  return { points: extendedPoints, objects };
}
