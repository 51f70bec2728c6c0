// Each disk's source must be one image of its own: the same image under two disk keys would be
// backed up twice (and its bitmaps added twice); an NBD URL must name a port that can exist.

import path from 'node:path';
import { atPath, type PlanPath } from '../plan-issue.js';
import { hasEnvRef } from '../env-refs.js';
import { isObject, listAt, stringAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

export function checkDiskSources(context: CheckContext): void {
  const { data, issues, lineOf } = context;
  const first = new Map<string, { readonly path: PlanPath; readonly key: unknown }>();
  listAt(data, 'vm', 'source', 'disks').forEach((disk, i) => {
    if (!isObject(disk)) return;
    const field =
      typeof disk.path === 'string'
        ? 'path'
        : typeof disk.url === 'string'
          ? 'url'
          : typeof disk.target === 'string'
            ? 'target'
            : undefined;
    if (field === undefined) return;
    const here: PlanPath = ['vm', 'source', 'disks', i, field];
    const text = disk[field] as string;
    if (field === 'url') checkUrlPort(context, here, text);
    if (hasEnvRef(text)) return;
    const same = field === 'path' ? path.posix.normalize(text) : text;
    const earlier = first.get(same);
    if (earlier === undefined) first.set(same, { path: here, key: disk.key });
    else
      issues.error(
        here,
        atPath(
          here,
          `the same ${field === 'target' ? 'target' : 'image'} as disk ${String(earlier.key)} (line ${lineOf(earlier.path)}): each disk key needs its own ${field === 'target' ? 'disk' : 'image'}`,
        ),
      );
  });
  const target = stringAt(data, 'restore', 'target', 'url');
  if (target !== undefined) checkUrlPort(context, ['restore', 'target', 'url'], target);
}

// WHATWG URL parsing rejects a port above 65535 with a vague "Invalid URL"; say which port.
function checkUrlPort({ issues }: CheckContext, here: PlanPath, text: string): void {
  const port = /^nbd(?:\+tcp)?:\/\/(?:\[[^\]]*\]|[^/:?#]*):([0-9]+)(?:[/?#]|$)/.exec(text)?.[1];
  if (port === undefined) return;
  const value = Number(port);
  if (value < 1 || value > 65535) issues.error(here, atPath(here, `port ${port} is out of range (1-65535)`));
}
