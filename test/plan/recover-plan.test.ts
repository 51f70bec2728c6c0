// A recover plan (docs/instant-recovery.md): its defaults, and each mistake one line at
// FILE:LINE:COL, exit 2.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPlanForRun } from '../../src/plan/load.js';
import type { RecoverPlan } from '../../src/plan/types.js';
import { runCli } from './run-validate.js';

const dir = mkdtempSync(path.join(tmpdir(), 'recover-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function planWith(recover: string, extra = ''): string {
  const file = path.join(dir, `plan-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(
    file,
    `version: 1\nkind: recover\nname: web01-recover\nvm:\n  name: web01\nrepository:\n  path: /var/lib/sendense/repository\n${extra}recover:\n${recover}`,
  );
  return file;
}

const TO =
  '  to:\n    type: libvirt\n    domain: web01-recovered\n    storage: /var/lib/libvirt/images/web01-{key}.qcow2\n';

describe('a recover plan', () => {
  it('needs only the domain and storage: latest, qemu:///system, /var/tmp, started, not moved', async () => {
    const plan = (await loadPlanForRun(planWith(TO))) as RecoverPlan;
    expect(plan.recover).toEqual({
      point: { type: 'latest' },
      disks: undefined,
      to: {
        type: 'libvirt',
        uri: 'qemu:///system',
        domain: 'web01-recovered',
        storage: '/var/lib/libvirt/images/web01-{key}.qcow2',
        scratch: '/var/tmp',
        definition: undefined,
      },
      start: true,
      moveStorage: false,
    });
  });

  it('reads a minimal definition and a rate', async () => {
    const plan = (await loadPlanForRun(
      planWith(`${TO}    definition:\n      memory: 2GiB\n      vcpus: 2\n  moveStorage: true\n`, 'rate: 50MiB/s\n'),
    )) as RecoverPlan;
    expect(plan.recover.to.definition).toEqual({
      use: 'stored',
      memory: 2 * 1024 ** 3,
      vcpus: 2,
      bus: 'virtio',
      virtualization: 'kvm',
      firmware: 'bios',
      network: undefined,
    });
    expect(plan.rate).toBe(50 * 1024 ** 2);
  });

  it('reads changes to the domain: memory, vCPUs, where each interface goes', async () => {
    const plan = (await loadPlanForRun(
      planWith(
        `${TO}    changes:\n      memory: 512MiB\n      vcpus: 2\n      network:\n        default: isolated\n        bridge:br0: bridge:br-test\n        '*': none\n`,
      ),
    )) as RecoverPlan;
    expect(plan.recover.to.changes).toEqual({
      memory: 512 * 1024 ** 2,
      vcpus: 2,
      network: [
        { from: { type: 'network', name: 'default' }, to: { type: 'network', name: 'isolated' } },
        { from: { type: 'bridge', name: 'br0' }, to: { type: 'bridge', name: 'br-test' } },
        { from: '*', to: 'none' },
      ],
    });
  });

  const CHANGES = `${TO}    changes:\n`;
  const MISTAKES: readonly [string, string, string, RegExp][] = [
    [
      'memory below the floor',
      `${CHANGES}      memory: 16MiB\n`,
      '',
      /:14:15: recover\.to\.changes\.memory: 16MiB is below 64MiB, the least a domain is given\n/,
    ],
    [
      'no vCPUs',
      `${CHANGES}      vcpus: 0\n`,
      '',
      /:14:14: recover\.to\.changes\.vcpus: must be at least 1 \(got 0\)\n/,
    ],
    [
      'a network name libvirt refuses',
      `${CHANGES}      network:\n        default: lan/1\n`,
      '',
      /:15:18: recover\.to\.changes\.network\.default: must be a libvirt network's name, bridge:NAME or none/,
    ],
    [
      'a bridge name longer than Linux takes',
      `${CHANGES}      network:\n        default: bridge:br-much-too-long0\n`,
      '',
      /:15:18: recover\.to\.changes\.network\.default: 'br-much-too-long0' is longer than 15 characters\n/,
    ],
    [
      'a network key libvirt refuses',
      `${CHANGES}      network:\n        'a b': isolated\n`,
      '',
      /:15:9: recover\.to\.changes\.network: key 'a b' is not a libvirt network name libvirt takes/,
    ],
    [
      'an unknown change',
      `${CHANGES}      storage: /elsewhere\n`,
      '',
      /:14:7: unknown key 'storage' in recover\.to\.changes/,
    ],
    [
      'one storage file for every disk',
      '  to:\n    type: libvirt\n    domain: r\n    storage: /images/r.qcow2\n',
      '',
      /:12:14: recover\.to\.storage: must contain \{key\}/,
    ],
    [
      'a relative storage path',
      '  to:\n    type: libvirt\n    domain: r\n    storage: images/r-{key}.qcow2\n',
      '',
      /:12:14: recover\.to\.storage: must be an absolute path/,
    ],
    [
      'a domain that is not started and not moved',
      `${TO}  start: false\n`,
      '',
      /:13:10: recover\.start: false needs recover\.moveStorage: true/,
    ],
    [
      'a domain name with a slash',
      '  to:\n    type: libvirt\n    domain: a/b\n    storage: /i/{key}.qcow2\n',
      '',
      /:11:13: recover\.to\.domain: must be letters, digits/,
    ],
    [
      'a point that is a date only',
      `  point: 2026-01-01\n${TO}`,
      '',
      /:9:10: recover\.point: '2026-01-01' is a date without a time/,
    ],
    ['a rate without a unit of time', TO, 'rate: 50MiB\n', /:8:7: rate: must be a rate like 50MiB\/s/],
    ['a rate in an unknown unit', TO, 'rate: 50iB/s\n', /:8:7: rate: must be a rate like 50MiB\/s/],
  ];
  for (const [name, recover, extra, message] of MISTAKES) {
    it(`says where ${name} is`, async () => {
      const result = await runCli(['validate', planWith(recover, extra)]);
      expect(result.exitCode).toBe(2);
      expect(result.stdout + result.stderr).toMatch(message);
      expect(result.stdout + result.stderr).not.toMatch(/\n\s+at /);
    });
  }
});
