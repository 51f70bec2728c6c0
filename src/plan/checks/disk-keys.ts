// A disk key names one disk of the VM: listed twice it would back up or restore over itself.

import { listAt, valueAt } from '../raw-plan.js';
import type { PlanPath } from '../plan-issue.js';
import { atPath } from '../plan-issue.js';
import type { CheckContext } from './check-context.js';

export function checkDiskKeys(context: CheckContext): void {
  reportDuplicates(context, ['vm', 'source', 'disks'], (i) => ['vm', 'source', 'disks', i, 'key']);
  reportDuplicates(context, ['restore', 'disks'], (i) => ['restore', 'disks', i]);
}

function reportDuplicates(
  { data, issues, lineOf }: CheckContext,
  list: PlanPath,
  keyPath: (i: number) => PlanPath,
): void {
  const first = new Map<number, PlanPath>();
  listAt(data, ...list).forEach((_, i) => {
    const path = keyPath(i);
    const key = valueAt(data, ...path);
    if (typeof key !== 'number') return;
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, path);
    else issues.error(path, atPath(path, `duplicate disk key ${key} (first at line ${lineOf(earlier)})`));
  });
}
