// A replica domain with replica.changes (docs/replication.md#the-replica-domain): the busybox guest
// on an isolated "production" network is replicated on this host; each sync defines the standby
// with the plan's memory, vCPUs and its interface on a "lab" network, a sync redefines it when the
// changes change, and a failover starts it with the changes as the plan says them then, booting
// from the point. A sync refuses a network the node does not have before it makes anything.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { readCounter, startGuest, virshResult, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import {
  bridgePorts,
  createIsolatedNetwork,
  domainSettings,
  removeNetwork,
  type TestNetwork,
} from '../support/libvirt-networks.js';
import { tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { removeDomain } from '../libvirt/recover-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('replica-failover-changes-', { per: 'file' });
const NETWORKS: Readonly<Record<'production' | 'lab', TestNetwork>> = {
  production: ['sendense-test-fchg-prod', 'sdtfchgprod0'],
  lab: ['sendense-test-fchg-lab', 'sdtfchglab0'],
};
let guest: TestGuest;
let replicaDir: string;
let replicaDomain: string;

beforeAll(async () => {
  createIsolatedNetwork(NETWORKS.production);
  createIsolatedNetwork(NETWORKS.lab);
  guest = await startGuest({ name: 'failover-changes', prefillMiB: 8, network: NETWORKS.production[0] });
  replicaDomain = `${guest.name}-replica`;
  // As libvirt-qemu must reach it (the guest's dir is 0755).
  replicaDir = path.join(guest.dir, 'replica');
  mkdirSync(replicaDir, { mode: 0o755 });
  mkdirSync(path.join(guest.dir, 'scratch'), { mode: 0o755 });
}, 180_000);

afterAll(() => {
  if (replicaDomain) removeDomain(replicaDomain);
  guest?.remove();
  for (const network of Object.values(NETWORKS)) removeNetwork(network);
});

function writePlan(name: string, changes: Record<string, unknown>): string {
  const file = path.join(ws.dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      version: 1,
      kind: 'replicate',
      name,
      vm: {
        name: 'fcvm',
        source: { type: 'libvirt', domain: guest.name, quiesce: 'off', scratch: path.join(guest.dir, 'scratch') },
      },
      replica: { path: path.join(replicaDir, 'fcvm-{key}.qcow2'), points: 2, domain: replicaDomain, changes },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
  return file;
}

const lab = (memory: string) => ({ memory, vcpus: 2, network: { [NETWORKS.production[0]]: NETWORKS.lab[0] } });

describe('a replica domain with changes', () => {
  it('refuses a sync onto a network the replica node does not have, before it makes anything', async () => {
    const plan = writePlan('fc-missing', { network: { '*': 'sendense-test-fchg-none' } });
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout + result.stderr).toMatch(
      /replica\.changes\.network: libvirt network sendense-test-fchg-none does not exist on this host/,
    );
    expect(tableRows(ws.db, 'replica_points')).toEqual([]);
    expect(virshResult('domstate', replicaDomain).status).not.toBe(0);
  }, 120_000);

  it('is defined with them, redefined when they change, and failed over with the plan’s changes of that moment', async () => {
    const plan = writePlan('fc-replica', lab('192MiB'));
    const first = await sendenseRun([plan, '--db', ws.db]);
    expect(first.exitCode, `${first.stdout}\n${first.stderr}`).toBe(0);
    expect(domainSettings(replicaDomain, true)).toMatchObject({
      memoryKiB: 192 * 1024,
      vcpus: 2,
      interfaces: [{ network: NETWORKS.lab[0] }],
    });

    // The plan changed, the VM did not: the next sync redefines the standby all the same.
    writePlan('fc-replica', lab('160MiB'));
    const second = await sendenseRun([plan, '--db', ws.db]);
    expect(second.exitCode, `${second.stdout}\n${second.stderr}`).toBe(0);
    expect(second.stdout + second.stderr).toContain('updated to replica.changes');
    expect(domainSettings(replicaDomain, true).memoryKiB).toBe(160 * 1024);

    // Edited again after the last sync; the original is lost; the failover obeys the plan as it is now.
    writePlan('fc-replica', lab('128MiB'));
    guest.destroy();
    const pointCounter = readCounter(path.join(replicaDir, 'fcvm-2000.qcow2'), 0);
    const consoleFrom = guest.consoleText().length;
    const failover = await sendenseRun(['failover', plan, '--db', ws.db]);
    expect(failover.exitCode, `${failover.stdout}\n${failover.stderr}`).toBe(0);
    const live = domainSettings(replicaDomain);
    expect(live).toMatchObject({ memoryKiB: 128 * 1024, vcpus: 2 });
    expect(live.interfaces.map((iface) => iface.network)).toEqual([NETWORKS.lab[0]]);
    expect(bridgePorts(NETWORKS.lab[1])).toHaveLength(1);
    expect(bridgePorts(NETWORKS.production[1])).toEqual([]);
    // The standby boots from the point (its console is the original's file: the original is gone).
    await waitFor(
      () => guest.consoleText().slice(consoleFrom).includes('FIRST-WRITE'),
      120_000,
      'the failed-over domain to write',
    );
    expect(guest.consoleText().slice(consoleFrom)).toContain(`RESUME ${pointCounter}`);
  }, 300_000);
});
