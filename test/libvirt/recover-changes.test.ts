// A recovery with recover.to.changes (docs/instant-recovery.md#changing-the-recovered-domain): the
// guest, backed up on one libvirt network, is recovered with less memory, more vCPUs and its
// interface on another network; the running domain has them, boots from the point and its disks
// hold the point's data. A network the node does not have, or a key naming no interface, is
// refused before anything is made. Real libvirt, a real guest, two isolated test networks.

import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startGuest, virshResult, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import {
  bridgePorts,
  createIsolatedNetwork,
  domainSettings,
  removeNetwork,
  type TestNetwork,
} from '../support/libvirt-networks.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { restorePoint, writeLibvirtPlan, writeRecoverPlan, type RestoredPoint } from './libvirt-plans.js';
import { exists, holdsPointData, recoveredConsole, removeDomain } from './recover-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-recover-changes-', { per: 'file' });
// Isolated networks (no address, no forwarding): a bridge each, nothing else on the host.
const NETWORKS: Readonly<Record<'production' | 'lab', TestNetwork>> = {
  production: ['sendense-test-chg-prod', 'sdtchgprod0'],
  lab: ['sendense-test-chg-lab', 'sdtchglab0'],
};
let guest: TestGuest;
let point: string;
let restored: RestoredPoint;
const recovered: string[] = [];

beforeAll(async () => {
  createIsolatedNetwork(NETWORKS.production);
  createIsolatedNetwork(NETWORKS.lab);
  guest = await startGuest({ name: 'recover-changes', prefillMiB: 8, network: NETWORKS.production[0] });
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  const plan = writeLibvirtPlan(ws.dir, {
    name: 'changes-src',
    vm: 'cvm',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
    quiesce: 'off',
  });
  const from = guest.rounds();
  await waitFor(() => guest.rounds() >= from + 2, 60_000, 'the guest to write');
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  point = /backup (\S+)$/m.exec(result.stdout)![1]!;
  guest.destroy();
  restored = await restorePoint(ws.dir, { vm: 'cvm', repository: ws.repository, ports, db: ws.db, point });
}, 400_000);

afterEach(() => {
  for (const domain of recovered.splice(0)) removeDomain(domain);
});
afterAll(() => {
  restored?.remove();
  guest?.remove();
  for (const network of Object.values(NETWORKS)) removeNetwork(network);
});

function recoverPlan(name: string, changes: Record<string, unknown>) {
  const domain = `${guest.name}-${name}`;
  recovered.push(domain);
  const storage = path.join(guest.dir, `${name}-{key}.qcow2`);
  const plan = writeRecoverPlan(ws.dir, {
    name: `recover-${name}`,
    vm: 'cvm',
    repository: ws.repository,
    ports,
    domain,
    storage,
    scratch: guest.dir,
    moveStorage: true,
    changes,
  });
  return { domain, plan, storage: (key: number) => storage.replace('{key}', String(key)) };
}

describe('a recovery with changes to the domain', () => {
  it('runs with the memory, vCPUs and network the plan gives, boots from the point and holds its data', async () => {
    const original = domainSettings(guest.name, true);
    expect(original.memoryKiB).toBe(256 * 1024);
    const { domain, plan, storage } = recoverPlan('changed', {
      memory: '192MiB',
      vcpus: 2,
      network: { [NETWORKS.production[0]]: NETWORKS.lab[0] },
    });
    const consoleFrom = recoveredConsole(guest.dir, domain).length;
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout + result.stderr).toContain("memory: 192 MiB, not the original's 256 MiB");

    const live = domainSettings(domain);
    expect(live.memoryKiB).toBe(192 * 1024);
    expect(live.vcpus).toBe(2);
    expect(live.interfaces).toHaveLength(1);
    expect(live.interfaces[0]!.network).toBe(NETWORKS.lab[0]);
    expect(live.interfaces[0]!.mac).not.toBe(original.interfaces[0]!.mac);
    // The lab bridge has the recovered domain's tap; the production bridge has none.
    expect(bridgePorts(NETWORKS.lab[1])).toHaveLength(1);
    expect(bridgePorts(NETWORKS.production[1])).toEqual([]);

    // It boots from the point (its counter resumes from the point's) and writes.
    await waitFor(
      () => recoveredConsole(guest.dir, domain).slice(consoleFrom).includes('FIRST-WRITE'),
      120_000,
      'the recovered guest to write',
    );
    expect(recoveredConsole(guest.dir, domain).slice(consoleFrom)).toContain(
      `RESUME ${Math.max(restored.counters.vda0, restored.counters.vda64, restored.counters.vdb1)}`,
    );
    virshResult('destroy', domain);
    expect(holdsPointData(storage(2000), restored.files[2000]!, 2000)).toBe(true);
    expect(holdsPointData(storage(2001), restored.files[2001]!, 2001)).toBe(true);
    // The persistent definition keeps the changes.
    expect(domainSettings(domain, true)).toMatchObject({ memoryKiB: 192 * 1024, vcpus: 2 });
  }, 300_000);

  it('refuses a network the node does not have, and a key naming no interface, before anything is made', async () => {
    const missing = recoverPlan('nonet', { network: { [NETWORKS.production[0]]: 'sendense-test-no-such-net' } });
    const refused = await sendenseRun([missing.plan, '--db', ws.db]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout + refused.stderr).toMatch(
      /recover\.to\.changes\.network: libvirt network sendense-test-no-such-net does not exist on /,
    );
    expect(refused.stdout + refused.stderr).not.toMatch(/\n\s+at /);
    expect(virshResult('domstate', missing.domain).status).not.toBe(0);
    expect(exists(missing.storage(2000))).toBe(false);

    const typo = recoverPlan('typo', { network: { 'sendense-test-chg-prd': NETWORKS.lab[0] } });
    const wrong = await sendenseRun([typo.plan, '--db', ws.db]);
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stdout + wrong.stderr).toContain(
      `recover.to.changes.network: the domain's definition (stored with backup ${point}) has no interface on network sendense-test-chg-prd`,
    );
    expect(virshResult('domstate', typo.domain).status).not.toBe(0);
  }, 120_000);
});
