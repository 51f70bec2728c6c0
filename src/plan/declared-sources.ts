// What a plan reads from, as its file writes it (each source type declares its own: a qemu disk
// image, a libvirt domain) with the host it is on, so that plans validated together can be checked
// for one source under two VM names (docs/commands.md#validate). Read from the raw plan, so a plan
// with errors still takes part.

import { kindNamed } from '../kinds/index.js';
import { sourceDefinitionOf } from '../source/source-types.js';
import type { DeclaredSource } from '../source/source-definition.js';

export type { DeclaredSource };

export function declaredSources(data: unknown): DeclaredSource[] {
  const plan = data as {
    kind?: unknown;
    vm?: { name?: unknown; source?: Record<string, unknown> };
    node?: { host?: unknown };
  } | null;
  const vm = plan?.vm?.name;
  const source = plan?.vm?.source;
  if (kindNamed(plan?.kind)?.readsSource !== true || typeof vm !== 'string' || source === undefined || source === null)
    return [];
  const host = typeof plan?.node?.host === 'string' ? plan.node.host : 'this host';
  return sourceDefinitionOf(source.type)?.declared(source, vm, host) ?? [];
}
