// The plan side every source type runs (src/source/source-definition.ts), in the manner of the copy
// targets' suite: a test file per type says how a plan writes one and what it can do, and gets
// every case here, through the real CLI where a user would see it. Its schema part takes a good
// vm.source and refuses a key it does not know, naming where; its plan check refuses what it says
// it refuses; what it declares it reads is the same each time and points into the plan; each
// capability asked by name is what it says; a dry run names every disk's read and takes nothing.

import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlanIssues, type PlanPath } from '../../../src/plan/plan-issue.js';
import type { SourceCapabilities } from '../../../src/source/source-definition.js';
import { sourceCan, sourceDefinitionOf } from '../../../src/source/index.js';
import { runCli } from '../../plan/run-validate.js';
import { leasedPorts, recordedProcesses } from '../../support/process-tree.js';
import { useRunWorkspace } from '../../support/run-workspace.js';
import { listBackups } from '../../support/sendense-cli.js';
import { portRangeForTestFile } from '../../support/vm-disks.js';

const CAPABILITIES: readonly (keyof SourceCapabilities)[] = [
  'hasLibvirtDomain',
  'namesImageFiles',
  'tracksChangesInImageFiles',
];

/** How a test file writes its type's vm.source, and what it says that type does. */
export interface SourceDefinitionInstance {
  /** Made once, before the file's tests, in `dir` (the disks a dry run inspects). */
  setup?(dir: string): Promise<void>;
  /** A good vm.source (disk key 2000). */
  source(): Record<string, unknown>;
  /** A key the schema part does not know, put into vm.source. */
  readonly unknownKey: string;
  /** A vm.source its plan check refuses, and the error it says (none: it has no check beyond the schema). */
  readonly refused?: { readonly source: () => Record<string, unknown>; readonly error: RegExp };
  /** The capabilities it has (and no other). */
  readonly capabilities: readonly (keyof SourceCapabilities)[];
  /** What the dry run says of disk 2000's read. */
  readonly dryRead: RegExp;
  /** Called once after the file's tests. */
  done?(): Promise<void>;
}

// A case the type has nothing for is not registered at all: nothing is reported as skipped.
const itIf = (applicable: boolean): typeof it => (applicable ? it : ((() => undefined) as unknown as typeof it));

const valueAt = (data: unknown, at: PlanPath): unknown =>
  at.reduce<unknown>((value, key) => (value as Record<string | number, unknown> | undefined)?.[key], data);

export function sourceDefinitionSuite(type: string, instance: SourceDefinitionInstance): void {
  const ws = useRunWorkspace(`sendense-source-definition-${type}-`, { per: 'file' });
  const ports = portRangeForTestFile(4);
  const vm = `${type}-vm`;
  const planData = (source: Record<string, unknown>) => ({
    version: 1,
    kind: 'incremental',
    name: `${type}-plan`,
    vm: { name: vm, source },
    repository: { path: ws.repository },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
  });
  const planFile = (name: string, source: Record<string, unknown>): string => {
    const file = path.join(ws.dir, `${name}.yaml`);
    writeFileSync(file, stringify(planData(source)));
    return file;
  };

  describe(`the ${type} source definition`, () => {
    beforeAll(async () => {
      await instance.setup?.(ws.dir);
    });
    afterAll(async () => {
      await instance.done?.();
    });

    it('its schema part takes a good vm.source and refuses an unknown key, naming where', async () => {
      const good = await runCli(['validate', planFile('good', instance.source())]);
      expect(good.exitCode, good.stdout + good.stderr).toBe(0);
      const wrong = await runCli(['validate', planFile('wrong', { ...instance.source(), [instance.unknownKey]: 1 })]);
      expect(wrong.exitCode).toBe(2);
      expect(wrong.stdout + wrong.stderr).toContain(instance.unknownKey);
      expect(wrong.stdout + wrong.stderr).toMatch(/vm\.source/);
      expect(wrong.stdout + wrong.stderr).not.toMatch(/\n\s+at /);
    });

    itIf(instance.refused !== undefined)('its plan check refuses what it says, through validate', async () => {
      const refused = await runCli(['validate', planFile('refused', instance.refused!.source())]);
      expect(refused.exitCode).toBe(2);
      expect(refused.stdout + refused.stderr).toMatch(instance.refused!.error);
      const issues = new PlanIssues();
      const data = planData(instance.source());
      sourceDefinitionOf(type)!.checks?.(data.vm.source, { data, issues, lineOf: () => 1 });
      expect(issues.list.filter((issue) => issue.severity === 'error')).toEqual([]);
    });

    it('declares what it reads: the same keys each time, each pointing into the plan', () => {
      const data = planData(instance.source());
      const definition = sourceDefinitionOf(type)!;
      const declared = definition.declared(data.vm.source, vm, 'kvm1');
      expect(declared.length).toBeGreaterThan(0);
      expect(definition.declared(data.vm.source, vm, 'kvm1')).toEqual(declared);
      expect(definition.declared(data.vm.source, vm, 'kvm2').map((entry) => entry.key)).not.toEqual(
        declared.map((entry) => entry.key),
      );
      for (const entry of declared) {
        expect(entry.what).toContain('kvm1');
        expect(valueAt(data, entry.path), entry.where).toBeDefined();
      }
      if (sourceCan(type, 'namesImageFiles')) {
        expect(declared).toHaveLength((data.vm.source.disks as unknown[]).length);
      }
    });

    it('can what it says, asked by name, and nothing else', () => {
      for (const name of CAPABILITIES) expect(sourceCan(type, name), name).toBe(instance.capabilities.includes(name));
      expect(sourceCan({ type }, 'hasLibvirtDomain')).toBe(instance.capabilities.includes('hasLibvirtDomain'));
    });

    it("a dry run names each disk's read and takes nothing", async () => {
      const dry = await runCli(['--db', ws.db, 'run', planFile('dry', instance.source()), '--dry-run']);
      expect(dry.exitCode, dry.stdout + dry.stderr).toBe(0);
      expect(dry.stdout).toMatch(instance.dryRead);
      // A dry run writes no state at all; if an earlier case made the database, nothing is in it.
      if (existsSync(ws.db)) {
        expect(await listBackups(ws.db, vm)).toEqual([]);
        expect(recordedProcesses(ws.db)).toEqual([]);
        expect(leasedPorts(ws.db)).toEqual([]);
      }
      expect(existsSync(ws.repository) ? readdirSync(ws.repository) : []).toEqual([]);
    });
  });
}
