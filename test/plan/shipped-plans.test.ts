// The plans and examples the project ships are valid, and load into the Plan the engine expects.

import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPlanForRun } from '../../src/plan/load.js';
import { runCli } from './run-validate.js';

describe('shipped plans', () => {
  it('`sendense-run validate plans examples` passes', async () => {
    const result = await runCli(['validate', 'plans', 'examples']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^18 plans checked, 0 invalid, 0 errors, \d+ warnings?$/m);
  });

  it('pgtest1-nightly is a nightly incremental of two qemu disks on this host', async () => {
    const plan = await loadPlanForRun('plans/pgtest1-nightly.yaml', {});
    expect(plan).toMatchObject({
      kind: 'incremental',
      name: 'pgtest1-nightly',
      schedule: '0 2 * * *',
      node: undefined,
      repository: { path: '/var/lib/sendense/repository' },
      nbd: { ports: { first: 10100, last: 10200 }, shared: 10 },
      incremental: { onMissingChain: 'full', maxChainLength: 30 },
      retention: { keepChains: 2 },
      timeouts: { transfer: 6 * 3600_000 },
      vm: {
        name: 'pgtest1',
        source: {
          type: 'qemu',
          disks: [
            { key: 2000, path: '/var/lib/sendense/vms/pgtest1-disk0.qcow2' },
            { key: 2001, path: '/var/lib/sendense/vms/pgtest1-disk1.qcow2' },
          ],
        },
      },
      envRefs: [],
    });
    expect(Object.isFrozen(plan)).toBe(true);
    expect(plan.kind === 'incremental' && Object.isFrozen(plan.vm.source.disks[0])).toBe(true);
  });

  it('the libvirt demo plans back up sendense-demo on this host while it runs, and restore it verified', async () => {
    const live = await loadPlanForRun('plans/sendense-demo-live.yaml', {});
    expect(live).toMatchObject({
      kind: 'incremental',
      node: undefined,
      repository: { path: '/var/lib/sendense/repository' },
      vm: { name: 'sendense-demo', source: { type: 'libvirt', domain: 'sendense-demo', uri: 'qemu:///system' } },
    });
    const restore = await loadPlanForRun('plans/sendense-demo-restore.yaml', {});
    expect(restore).toMatchObject({
      kind: 'restore',
      vm: { name: 'sendense-demo' },
      repository: { path: '/var/lib/sendense/repository' },
      restore: { point: { type: 'latest' }, verify: true },
    });
  });

  it('pgtest1-vmware is read by sendense-run itself: endpoint from the environment, password by name, certificate pinned', async () => {
    const plan = await loadPlanForRun('plans/pgtest1-vmware.yaml', { VCENTER_HOST: 'vcenter.test' });
    expect((plan.kind === 'backup' || plan.kind === 'incremental') && plan.vm.source).toMatchObject({
      type: 'vmware',
      client: 'sendense-run',
      endpoint: 'vcenter.test',
      passwordEnv: 'VCENTER_PASSWORD',
      certificateSha256: expect.stringMatching(/^(?:[0-9A-F]{2}:){31}[0-9A-F]{2}$/),
    });
    expect(plan.envRefs).toEqual(['VCENTER_HOST']);
    expect(plan.node).toBeUndefined();
  });

  it('the old-client example reads VMware with sendense-backup-client on a proxy node', async () => {
    const plan = await loadPlanForRun('examples/vmware-sendense-backup-client.yaml', { VCENTER_HOST: 'vcenter.test' });
    expect((plan.kind === 'backup' || plan.kind === 'incremental') && plan.vm.source).toMatchObject({
      type: 'vmware',
      client: 'sendense-backup-client',
      endpoint: 'vcenter.test',
      passwordEnv: 'VCENTER_PASSWORD',
      clientPath: '/usr/local/bin/sendense-backup-client',
    });
    expect(plan.envRefs).toEqual(['VCENTER_HOST']);
    expect(plan.node).toEqual({
      host: '10.0.100.231',
      port: 22,
      user: 'sendense',
      identityFile: path.join(os.homedir(), '.ssh/id_ed25519'),
      knownHosts: path.join(os.homedir(), '.ssh/known_hosts'),
    });
  });

  it('the replicate example keeps three points of a libvirt domain on another node, no repository', async () => {
    const plan = await loadPlanForRun('examples/replicate.yaml', {});
    expect(plan).toMatchObject({
      kind: 'replicate',
      schedule: '*/5 * * * *',
      node: { host: 'kvm1.example.com', port: 22, user: 'root' },
      vm: { name: 'pgtest1', source: { type: 'libvirt', domain: 'pgtest1', disks: [] } },
      replica: {
        node: {
          host: 'kvm2.example.com',
          port: 22,
          user: 'root',
          knownHosts: path.join(os.homedir(), '.ssh/known_hosts'),
        },
        path: '/var/lib/libvirt/images/pgtest1-replica-{key}.qcow2',
        points: 3,
        domain: 'pgtest1-replica',
        uri: 'qemu:///system',
        scratch: '/var/tmp',
      },
    });
    expect('repository' in plan).toBe(false);
  });

  it('the restore example restores the latest backup into qcow2 files named by disk key', async () => {
    const plan = await loadPlanForRun('examples/restore.yaml', {});
    expect(plan.kind === 'restore' && plan.restore).toEqual({
      point: { type: 'latest' },
      disks: undefined,
      target: {
        type: 'file',
        path: '/var/lib/sendense/restore/pgtest1-{key}.qcow2',
        format: 'qcow2',
        overwrite: false,
        mode: 0o600,
      },
      verify: true,
    });
  });
});
