// nbd.ports: a FIRST-LAST range of valid ports, in order, with a port for every disk.

import { DEFAULT_PORTS } from '../build-parts.js';
import { listAt, stringAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

export function checkPortRange({ data, issues }: CheckContext): void {
  const given = stringAt(data, 'nbd', 'ports');
  // Absent: the default range must hold the disks too (150 disks do not fit in 101 ports).
  const match = /^([0-9]+)-([0-9]+)$/.exec(given ?? DEFAULT_PORTS);
  if (match === null) return; // malformed (the schema says so)
  const [first, last] = [Number(match[1]), Number(match[2])];
  const path = ['nbd', 'ports'];
  const outside = [first, last].find((port) => port < 1 || port > 65535);
  if (outside !== undefined) return issues.error(path, `nbd.ports: port ${outside} is out of range (1-65535)`);
  if (first > last) return issues.error(path, `nbd.ports: range ${first}-${last} is reversed (write ${last}-${first})`);
  const disks = diskCount(data);
  const size = last - first + 1;
  if (size < disks) {
    const range = given === undefined ? `the default range ${first}-${last}` : `range ${first}-${last}`;
    const fix = given === undefined ? ' (set nbd.ports to a larger range)' : '';
    issues.error(
      given === undefined ? ['vm', 'source', 'disks'] : path,
      `nbd.ports: ${range} has ${size} port${size === 1 ? '' : 's'} but the plan needs one per disk (${disks} disks)${fix}`,
    );
  }
}

// Disks a run takes a port for: the source's disks, or the listed restore disks.
function diskCount(data: unknown): number {
  return Math.max(listAt(data, 'vm', 'source', 'disks').length, listAt(data, 'restore', 'disks').length, 1);
}
