// A libvirt source in a plan: its defaults, and each mistake one line at FILE:LINE:COL, exit 2.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPlanForRun } from '../../src/plan/load.js';
import type { BackupPlan } from '../../src/plan/types.js';
import { runCli } from '../plan/run-validate.js';

const dir = mkdtempSync(path.join(tmpdir(), 'libvirt-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function planWith(source: string): string {
  const file = path.join(dir, `plan-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(
    file,
    `version: 1\nkind: incremental\nname: web01-hourly\nvm:\n  name: web01\n  source:\n${source}repository:\n  path: /var/lib/sendense/repository\n`,
  );
  return file;
}

describe('a libvirt source in a plan', () => {
  it('needs only its type: domain from vm.name, qemu:///system, quiesce auto, /var/tmp, every disk', async () => {
    const plan = (await loadPlanForRun(planWith('    type: libvirt\n'))) as BackupPlan;
    expect(plan.vm.source).toEqual({
      type: 'libvirt',
      domain: 'web01',
      uri: 'qemu:///system',
      quiesce: 'auto',
      scratch: '/var/tmp',
      disks: [],
    });
  });

  const MISTAKES: readonly [string, string, RegExp][] = [
    [
      'a quiesce value that does not exist',
      '    type: libvirt\n    quiesce: always\n',
      /:8:14: vm\.source\.quiesce: must be one of auto, require, off \(got 'always'\)/,
    ],
    [
      'a relative scratch directory',
      '    type: libvirt\n    scratch: tmp\n',
      /:8:14: vm\.source\.scratch: must be an absolute path on the node/,
    ],
    [
      'a disk without its target',
      '    type: libvirt\n    disks:\n      - { key: 2000 }\n',
      /:9:9: .*missing required key 'target'/,
    ],
    [
      'the same target under two keys',
      '    type: libvirt\n    disks:\n      - { key: 2000, target: vda }\n      - { key: 2001, target: vda }\n',
      /:10:30: .*the same target as disk 2000 \(line 9\)/,
    ],
    [
      'a key of another source type',
      '    type: libvirt\n    path: /vms/x.qcow2\n',
      /:8:5: unknown key 'path' in vm\.source/,
    ],
  ];
  for (const [name, source, message] of MISTAKES) {
    it(`says where ${name} is`, async () => {
      const file = planWith(source);
      const result = await runCli(['validate', file]);
      expect(result.exitCode).toBe(2);
      expect(result.stdout + result.stderr).toMatch(message);
      expect(result.stdout + result.stderr).not.toMatch(/\n\s+at /);
    });
  }

  it('a dry run on a remote node says the disks are found when the run asks the node, and contacts nothing', async () => {
    const file = path.join(dir, 'remote.yaml');
    writeFileSync(
      file,
      'version: 1\nkind: incremental\nname: web01-hourly\nvm:\n  name: web01\n  source:\n    type: libvirt\nnode:\n  host: kvm03.example.invalid\n  user: root\n  knownHosts: /nonexistent/known_hosts\nrepository:\n  path: /var/lib/sendense/repository\n',
    );
    const result = await runCli([file, '--dry-run', '--db', path.join(dir, 'dry.db')]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      'disks: those of web01 the node lists when the run asks it (the remote node is not contacted in a dry run)',
    );
    expect(result.stdout).toContain(
      'a backup job with a new checkpoint on domain web01 if it runs, else a new checkpoint in its images',
    );
  });
});
