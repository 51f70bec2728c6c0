// The plan side of every source type (src/source/<type>-definition.ts), held to what the rest of the
// hub relies on when it asks a capability instead of a type: the shipped example plan of each type
// builds into a source of that type, a source that is a libvirt domain names one, a source that
// names its image files declares each, and the same plan validated twice declares the same keys.

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { PlanIssues } from '../../src/plan/plan-issue.js';
import type { RawSource } from '../../src/plan/plan-shape.generated.js';
import { sourceCan, sourceDefinitionOf } from '../../src/source/index.js';

// One example plan of each source type, as shipped (examples/).
const EXAMPLES: Readonly<Record<string, string>> = {
  qemu: 'examples/backup-full.yaml',
  nbd: 'examples/nbd-source.yaml',
  vmware: 'examples/vmware-sendense-backup-client.yaml',
  libvirt: 'examples/libvirt-domain.yaml',
};

describe.each(Object.entries(EXAMPLES))('source type %s', (type, file) => {
  const plan = parse(readFileSync(file, 'utf8')) as { vm: { name: string; source: RawSource } };
  const definition = sourceDefinitionOf(type)!;

  it('is defined, and builds the example into a source of its type', () => {
    expect(definition.type).toBe(type);
    const built = definition.build(plan.vm.source as never, plan.vm.name);
    expect(built.type).toBe(type);
    if (sourceCan(built, 'hasLibvirtDomain')) {
      expect(built).toEqual(expect.objectContaining({ domain: expect.any(String), uri: expect.any(String) }));
    }
  });

  it('declares what the example reads, the same keys each time, one per image file it names', () => {
    const declared = definition.declared(plan.vm.source as never, plan.vm.name, 'kvm1');
    expect(definition.declared(plan.vm.source as never, plan.vm.name, 'kvm1')).toEqual(declared);
    if (definition.capabilities.namesImageFiles) {
      const disks = (plan.vm.source as { disks?: unknown[] }).disks ?? [];
      expect(declared).toHaveLength(disks.length);
    }
    if (definition.capabilities.hasLibvirtDomain) expect(declared).toHaveLength(1);
    for (const entry of declared) expect(entry.what).toContain('kvm1');
  });

  it('finds nothing wrong with the example', () => {
    const issues = new PlanIssues();
    definition.checks?.(plan.vm.source as never, { data: plan, issues, lineOf: () => 1 });
    expect(issues.list.filter((issue) => issue.severity === 'error')).toEqual([]);
  });
});

describe('source types asked by name', () => {
  it('an unknown type can nothing and has no definition', () => {
    expect(sourceDefinitionOf('hyperv')).toBeUndefined();
    expect(sourceDefinitionOf(undefined)).toBeUndefined();
    expect(sourceCan('hyperv', 'hasLibvirtDomain')).toBe(false);
  });
});
