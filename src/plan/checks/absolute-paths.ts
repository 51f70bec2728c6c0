// Paths in a plan are absolute: a run's working directory must not change what gets backed up
// or overwritten. Hub-side paths may start with ~/ (expanded); node-side paths may not.

import path from 'node:path';
import { hasEnvRef } from '../env-refs.js';
import { expandHome } from '../home-path.js';
import { kindNamed } from '../../kinds/index.js';
import { atPath, type PlanPath } from '../plan-issue.js';
import { listAt, stringAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';
import { sourceCan } from '../../source/source-types.js';

export function checkAbsolutePaths({ data, issues }: CheckContext): void {
  const check = (where: PlanPath, onHub: boolean): void => {
    const value = stringAt(data, ...where);
    if (value === undefined || value === '' || hasEnvRef(value)) return; // a reference is checked once resolved
    const expanded = onHub ? expandHome(value) : value;
    if (path.isAbsolute(expanded)) return;
    const hint = onHub ? 'an absolute path or start with ~/' : 'an absolute path on the node';
    issues.error(where, atPath(where, `must be ${hint} (got '${value}')`));
  };
  check(['repository', 'path'], true);
  check(['repository', 'encryption', 'keyFile'], true);
  // replica.node and copy.to.node are reached from the hub like node, with the same files.
  for (const node of [['node'], ['replica', 'node'], ['copy', 'to', 'node']]) {
    check([...node, 'identityFile'], true);
    check([...node, 'knownHosts'], true);
  }
  check(['copy', 'to', 'credentialsFile'], true);
  check(['metricsFile'], true);
  // Blocks the plan's kind does not allow are reported as such, not checked further (a kind's own
  // paths are its checks', src/kinds).
  if (kindNamed(stringAt(data, 'kind'))?.readsSource === false) return;
  if (sourceCan(stringAt(data, 'vm', 'source', 'type'), 'namesImageFiles')) {
    listAt(data, 'vm', 'source', 'disks').forEach((_, i) => check(['vm', 'source', 'disks', i, 'path'], false));
  }
  check(['vm', 'source', 'clientPath'], false);
  check(['vm', 'source', 'passwordFile'], true);
}
