// What a hub config allows a run: the repositories it may use, and the NBD ports it may lease (a
// plan's nbd.ports narrows the hub's nbd.ports when the config sets them; a plan that keeps the
// default 10100-10200 takes the hub's range).

import path from 'node:path';
import { SendenseError } from '../errors.js';
import { DEFAULT_PORTS } from '../plan/build-parts.js';
import type { HubConfig } from './hub-config.js';

type Ports = { readonly first: number; readonly last: number };

export function checkHubRepository(hub: HubConfig, repository: string): void {
  if (hub.repositories === undefined) return;
  const inside = hub.repositories.some((allowed) => {
    const relative = path.relative(allowed, path.resolve(repository));
    return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
  });
  if (!inside) {
    throw new SendenseError(
      `repository ${repository} is not one hub ${hub.name} may use (repositories: ${hub.repositories.join(', ')})`,
      { file: hub.file, exitCode: 2 },
    );
  }
}

// Both checks, before a run queues: a plan the hub may not run is refused naming the hub config.
// A plan without a repository (replicate: the hub holds no copy) is checked for its ports only.
export function checkHubScope(
  hub: HubConfig,
  plan: { readonly repository?: { readonly path: string }; readonly nbd: { readonly ports: Ports } },
): void {
  if (plan.repository !== undefined) checkHubRepository(hub, plan.repository.path);
  hubPortRange(hub, plan.nbd.ports);
}

export function hubPortRange(hub: HubConfig | undefined, plan: Ports): Ports {
  const range = hub?.ports;
  if (range === undefined) return plan;
  if (`${plan.first}-${plan.last}` === DEFAULT_PORTS) return range;
  const first = Math.max(plan.first, range.first);
  const last = Math.min(plan.last, range.last);
  if (first > last) {
    throw new SendenseError(
      `the plan's nbd.ports ${plan.first}-${plan.last} is outside the hub's nbd.ports ${range.first}-${range.last}`,
      { file: hub!.file, exitCode: 2 },
    );
  }
  return { first, last };
}
