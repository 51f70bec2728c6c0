// A replicate plan (docs/replication.md): its defaults, and each mistake one line at
// FILE:LINE:COL, exit 2.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPlanForRun } from '../../src/plan/load.js';
import type { ReplicatePlan } from '../../src/plan/types.js';
import { validateRefused as validate } from './run-validate.js';

const dir = mkdtempSync(path.join(tmpdir(), 'replicate-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LIBVIRT = 'vm:\n  name: pgtest1\n  source:\n    type: libvirt\n';
const QEMU =
  'vm:\n  name: pgtest1\n  source:\n    type: qemu\n    disks:\n      - { key: 2000, path: /images/a.qcow2 }\n      - { key: 2001, path: /images/b.qcow2 }\n';
const KVM2 = '  node:\n    host: kvm2\n    user: sendense\n';

// Lines 1-3 are the header; `vm` starts at line 4, `replica` follows it.
function planWith(vm: string, replica: string, extra = ''): string {
  const file = path.join(dir, `plan-${Math.random().toString(16).slice(2)}.yaml`);
  writeFileSync(file, `version: 1\nkind: replicate\nname: pgtest1-replica\n${vm}replica:\n${replica}${extra}`);
  return file;
}

describe('a replicate plan', () => {
  it('needs only a path: 3 points, <vm>-replica for a libvirt source, qemu:///system, /var/tmp, this host', async () => {
    const plan = (await loadPlanForRun(planWith(LIBVIRT, '  path: /images/r-{key}.qcow2\n'))) as ReplicatePlan;
    expect(plan.kind).toBe('replicate');
    expect('repository' in plan).toBe(false);
    expect(plan.vm.source).toMatchObject({ type: 'libvirt', domain: 'pgtest1' });
    expect(plan.replica).toEqual({
      node: undefined,
      path: '/images/r-{key}.qcow2',
      points: 3,
      domain: 'pgtest1-replica',
      uri: 'qemu:///system',
      scratch: '/var/tmp',
      definition: undefined,
    });
    expect(Object.isFrozen(plan.replica)).toBe(true);
  });

  it('gives a qemu source no replica domain unless a definition is given', async () => {
    const bare = (await loadPlanForRun(planWith(QEMU, '  path: /images/r-{key}.qcow2\n'))) as ReplicatePlan;
    expect(bare.replica.domain).toBeUndefined();
    const defined = (await loadPlanForRun(
      planWith(QEMU, `${KVM2}  path: /images/r-{key}.qcow2\n  definition:\n    memory: 2GiB\n    vcpus: 2\n`),
    )) as ReplicatePlan;
    expect(defined.replica.domain).toBe('pgtest1-replica');
    expect(defined.replica.definition).toEqual({
      use: 'stored',
      memory: 2 * 1024 ** 3,
      vcpus: 2,
      bus: 'virtio',
      virtualization: 'kvm',
      firmware: 'bios',
      network: undefined,
    });
    expect(defined.replica.node).toEqual({
      host: 'kvm2',
      port: 22,
      user: 'sendense',
      identityFile: undefined,
      knownHosts: path.join(os.homedir(), '.ssh/known_hosts'),
    });
  });

  it('takes one replica path without {key} for a single disk', async () => {
    const vm = 'vm:\n  name: pgtest1\n  source:\n    type: libvirt\n    disks: [{ key: 2000, target: vda }]\n';
    const plan = (await loadPlanForRun(planWith(vm, '  path: /images/r.qcow2\n  points: 7\n'))) as ReplicatePlan;
    expect(plan.replica).toMatchObject({ path: '/images/r.qcow2', points: 7 });
  });

  it('refuses a repository: the hub holds no copy', async () => {
    const output = await validate(
      planWith(LIBVIRT, '  path: /images/r-{key}.qcow2\n', 'repository:\n  path: /backup\n'),
    );
    expect(output).toMatch(
      /:10:1: repository: not allowed in a plan of kind replicate \(the hub holds no copy of a replica: it is kept at replica\.path on replica\.node\)\n/,
    );
    expect(output).toMatch(/^1 plan checked, 1 invalid, 1 error, 0 warnings$/m);
  });

  const MISTAKES: readonly [string, string, string, string, RegExp][] = [
    [
      'a relative replica path',
      LIBVIRT,
      '  path: images/r-{key}.qcow2\n',
      '',
      /:9:9: replica\.path: must be an absolute path on the replica node \(got 'images\/r-\{key\}\.qcow2'\)\n/,
    ],
    [
      'a replica path on the hub home',
      LIBVIRT,
      '  path: ~/r-{key}.qcow2\n',
      '',
      /:9:9: replica\.path: must be an absolute path on the replica node \(got '~\/r-\{key\}\.qcow2'\)\n/,
    ],
    [
      'one replica file for every disk of a domain',
      LIBVIRT,
      '  path: /images/r.qcow2\n',
      '',
      /:9:9: replica\.path: must contain \{key\} \(the disk key\) because vm\.source\.disks is not given, so every disk of the domain is replicated\n/,
    ],
    [
      'one replica file for two disks',
      QEMU,
      `${KVM2}  path: /images/r.qcow2\n`,
      '',
      /:15:9: replica\.path: must contain \{key\} \(the disk key\) because vm\.source\.disks lists 2 disks\n/,
    ],
    [
      "the VM's own domain on the same node",
      LIBVIRT,
      '  path: /images/r-{key}.qcow2\n  domain: pgtest1\n',
      '',
      /:10:11: replica\.domain: 'pgtest1' is the VM's own domain on the same node; give the replica a domain of its own\n/,
    ],
    [
      "the VM's own domain on the same remote node",
      LIBVIRT,
      `${KVM2}  path: /images/r-{key}.qcow2\n  domain: pgtest1\n`,
      'node:\n  host: kvm2\n  port: 22\n  user: root\n',
      /:13:11: replica\.domain: 'pgtest1' is the VM's own domain on the same node/,
    ],
    [
      "a default domain that is the VM's own",
      'vm:\n  name: pgtest1\n  source:\n    type: libvirt\n    domain: pgtest1-replica\n',
      '  path: /images/r-{key}.qcow2\n',
      '',
      /:9:1: replica\.domain: the default 'pgtest1-replica' is the VM's own domain on the same node; give the replica a domain of its own\n/,
    ],
    [
      'a vmware source',
      'vm:\n  name: pgtest1\n  source:\n    type: vmware\n    endpoint: vc\n    username: u\n    passwordEnv: VC_PASSWORD\n    path: /DC/vm/pgtest1\n    disks: [{ key: 2000 }]\n',
      '  path: /images/r.qcow2\n',
      '',
      /:7:11: vm\.source\.type: a vmware source cannot be replicated yet \(sendense-backup-client writes only to the hub\); replicate a libvirt, qemu or nbd source\n/,
    ],
    [
      "a replica file that is the VM's own image on the same node",
      QEMU.replace('/images/a.qcow2', '/images/2001.qcow2'),
      '  path: /images/{key}.qcow2\n',
      '',
      /:12:9: replica\.path: \/images\/2001\.qcow2 \(disk 2001\) is the image of disk 2000 on the same node; the replica needs files of its own\n/,
    ],
    [
      'a relative knownHosts of the replica node',
      LIBVIRT,
      `${KVM2}    knownHosts: ssh/known_hosts\n  path: /images/r-{key}.qcow2\n`,
      '',
      /:12:17: replica\.node\.knownHosts: must be an absolute path or start with ~\/ \(got 'ssh\/known_hosts'\)\n/,
    ],
    [
      'a relative identityFile of the replica node',
      LIBVIRT,
      `${KVM2}    identityFile: id\n  path: /images/r-{key}.qcow2\n`,
      '',
      /:12:19: replica\.node\.identityFile: must be an absolute path or start with ~\/ \(got 'id'\)\n/,
    ],
    [
      'a replica node without a user',
      LIBVIRT,
      '  node:\n    host: kvm2\n  path: /images/r-{key}.qcow2\n',
      '',
      /:9:3: replica\.node: missing required key 'user'\n/,
    ],
    [
      'a relative scratch directory',
      LIBVIRT,
      '  path: /images/r-{key}.qcow2\n  scratch: tmp\n',
      '',
      /:10:12: replica\.scratch: must be an absolute path on the replica node \(got 'tmp'\)\n/,
    ],
    [
      'a definition without memory',
      QEMU,
      '  path: /images/r-{key}.qcow2\n  definition:\n    memory: 0GiB\n    vcpus: 1\n',
      '',
      /:14:13: replica\.definition\.memory: must be a size like 2GiB or 512MiB \(got '0GiB'\)\n/,
    ],
    [
      'replica changes with too little memory',
      LIBVIRT,
      '  path: /images/r-{key}.qcow2\n  changes:\n    memory: 1000K\n',
      '',
      /:11:13: replica\.changes\.memory: 1000K is below 64MiB, the least a domain is given\n/,
    ],
    [
      'no points',
      LIBVIRT,
      '  path: /images/r-{key}.qcow2\n  points: 0\n',
      '',
      /:10:11: replica\.points: must be at least 1 \(got 0\)\n/,
    ],
    [
      'retention',
      LIBVIRT,
      '  path: /images/r-{key}.qcow2\n',
      'retention:\n  keepLast: 3\n',
      /:10:1: retention: not allowed in a plan of kind replicate\n/,
    ],
  ];
  for (const [name, vm, replica, extra, message] of MISTAKES) {
    it(`says where ${name} is, in one line`, async () => {
      const output = await validate(planWith(vm, replica, extra));
      expect(output).toMatch(message);
      expect(output).toMatch(/^1 plan checked, 1 invalid, 1 error, 0 warnings$/m);
    });
  }

  it('takes the same domain name on another node, and a replica file named like the image on another node', async () => {
    const plan = (await loadPlanForRun(
      planWith(LIBVIRT, `${KVM2}  path: /images/r-{key}.qcow2\n  domain: pgtest1\n`),
    )) as ReplicatePlan;
    expect(plan.replica.domain).toBe('pgtest1');
    const qemu = (await loadPlanForRun(
      planWith(QEMU.replace('/images/a.qcow2', '/images/2000.qcow2'), `${KVM2}  path: /images/{key}.qcow2\n`),
    )) as ReplicatePlan;
    expect(qemu.replica.path).toBe('/images/{key}.qcow2');
  });

  it('refuses a replica block in a backup plan', async () => {
    const file = path.join(dir, 'backup-replica.yaml');
    writeFileSync(
      file,
      `version: 1\nkind: backup\nname: b\n${LIBVIRT}repository:\n  path: /r\nreplica:\n  path: /images/r.qcow2\n`,
    );
    expect(await validate(file)).toMatch(/:10:1: replica: not allowed in a plan of kind backup\n/);
  });

  it('still requires a repository for every other kind', async () => {
    const file = path.join(dir, 'backup-no-repository.yaml');
    writeFileSync(file, `version: 1\nkind: backup\nname: b\n${LIBVIRT}`);
    expect(await validate(file)).toMatch(/:1:1: missing required key 'repository'\n/);
  });
});
