// What a plan reads from, as its file writes it: each qemu disk image and libvirt domain with the
// host it is on, so that plans validated together can be checked for one source under two VM
// names (docs/commands.md#validate). Read from the raw plan, so a plan with errors
// still takes part.

import { kindNamed } from '../kinds/index.js';
import type { PlanPath } from './plan-issue.js';

export interface DeclaredSource {
  /** Host and source, the same for two plans that read the same thing. */
  readonly key: string;
  /** For messages: "disk image /var/lib/libvirt/images/a.qcow2 on kvm1". */
  readonly what: string;
  readonly vm: string;
  /** Where the plan writes it, and that place for messages ("vm.source.disks[1].path"). */
  readonly path: PlanPath;
  readonly where: string;
}

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
  if (source.type === 'libvirt') {
    const domain = typeof source.domain === 'string' ? source.domain : vm;
    const uri = typeof source.uri === 'string' ? source.uri : 'qemu:///system';
    return [
      {
        key: `${host}\0${uri}\0domain\0${domain}`,
        what: `libvirt domain ${domain} on ${host}`,
        vm,
        ...(source.domain === undefined
          ? { path: ['vm', 'name'], where: 'vm.name' }
          : { path: ['vm', 'source', 'domain'], where: 'vm.source.domain' }),
      },
    ];
  }
  if (source.type !== 'qemu' || !Array.isArray(source.disks)) return [];
  return source.disks.flatMap((disk: unknown, index: number) => {
    const file = (disk as { path?: unknown } | null)?.path;
    if (typeof file !== 'string' || file === '') return [];
    return [
      {
        key: `${host}\0image\0${file}`,
        what: `disk image ${file} on ${host}`,
        vm,
        path: ['vm', 'source', 'disks', index, 'path'],
        where: `vm.source.disks[${index}].path`,
      },
    ];
  });
}
