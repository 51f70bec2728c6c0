// nbd.ports: a FIRST-LAST range of valid ports, in order, with a port for every disk.

import { listAt, stringAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

export function checkPortRange({ data, issues }: CheckContext): void {
  const text = stringAt(data, 'nbd', 'ports');
  const match = text === undefined ? null : /^([0-9]+)-([0-9]+)$/.exec(text);
  if (match === null) return; // absent (default) or malformed (the schema says so)
  const [first, last] = [Number(match[1]), Number(match[2])];
  const path = ['nbd', 'ports'];
  const outside = [first, last].find((port) => port < 1 || port > 65535);
  if (outside !== undefined) return issues.error(path, `nbd.ports: port ${outside} is out of range (1-65535)`);
  if (first > last) return issues.error(path, `nbd.ports: range ${first}-${last} is reversed (write ${last}-${first})`);
  const disks = diskCount(data);
  const size = last - first + 1;
  if (size < disks) {
    issues.error(path, `nbd.ports: range ${first}-${last} has ${size} port${size === 1 ? '' : 's'} but the plan needs one per disk (${disks} disks)`);
  }
}

// Disks a run takes a port for: the source's disks, or the listed restore disks.
function diskCount(data: unknown): number {
  return Math.max(listAt(data, 'vm', 'source', 'disks').length, listAt(data, 'restore', 'disks').length, 1);
}
