// Syncs go on while `failover --test` runs (docs/replication.md#testing-a-failover): the tested
// point and the points under it are never folded while the test reads them (QEMU holds their
// write lock), so the folds wait; every sync during the test succeeds and installs its point, and
// the first sync after the test folds back down to replica.points. Real libvirt, the busybox guest writing.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  countersAreOnePointInTime,
  readCounters,
  startGuest,
  virsh,
  virshResult,
  waitFor,
  type TestGuest,
} from '../support/libvirt-guest.js';
import { NotedProcesses } from '../support/processes.js';
import { tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { parseEvents, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { removeDomain } from '../libvirt/recover-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('sync-during-test-', { per: 'file' });
const started = new NotedProcesses();
let guest: TestGuest;
let replicaDir: string;
let plan: string;
let replicaDomain: string;

beforeAll(async () => {
  guest = await startGuest({ name: 'sync-test', prefillMiB: 8 });
  replicaDomain = `${guest.name}-replica`;
  replicaDir = path.join(guest.dir, 'replica');
  mkdirSync(replicaDir, { mode: 0o755 });
  mkdirSync(path.join(guest.dir, 'scratch'), { mode: 0o755 });
  // The definition the test domain is made from gets a console file of its own: one file has one writer.
  const definition = virsh('dumpxml', '--inactive', guest.name).replace(
    path.join(guest.dir, 'console.log'),
    path.join(guest.dir, 'replica-console.log'),
  );
  writeFileSync(path.join(guest.dir, 'replica-domain.xml'), definition);
  virsh('define', path.join(guest.dir, 'replica-domain.xml'));
  plan = path.join(ws.dir, 'replicate.yaml');
  writeFileSync(
    plan,
    stringify({
      version: 1,
      kind: 'replicate',
      name: 'sync-during-test',
      vm: {
        name: 'svm',
        source: { type: 'libvirt', domain: guest.name, quiesce: 'off', scratch: path.join(guest.dir, 'scratch') },
      },
      replica: { path: path.join(replicaDir, 'svm-{key}.qcow2'), points: 2, domain: replicaDomain },
      nbd: { ports: `${ports[0]}-${ports[1]}` },
    }),
  );
}, 400_000);

afterAll(async () => {
  started.killAll();
  if (replicaDomain !== undefined && virshResult('domstate', `${replicaDomain}-test`).status === 0)
    await sendenseRun(['doctor', '--db', ws.db]);
  for (const domain of [`${replicaDomain}-test`, replicaDomain]) if (replicaDomain !== undefined) removeDomain(domain);
  guest?.remove();
});

// One sync after the guest wrote; its events.
async function sync(): Promise<ReturnType<typeof parseEvents>> {
  const from = guest.rounds();
  await waitFor(() => guest.rounds() >= from + 2, 60_000, 'the guest to write');
  const result = await sendenseRun([plan, '--json', '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return parseEvents(result.stdout);
}

const pointIds = (status: string) =>
  (tableRows(ws.db, 'replica_points') as { id: string; status: string; started_at: string }[])
    .filter((row) => row.status === status)
    .map((row) => row.id)
    .sort();
const replicaCounters = () =>
  readCounters(path.join(replicaDir, 'svm-2000.qcow2'), path.join(replicaDir, 'svm-2001.qcow2'));

it('every sync during a failover test succeeds and its folds wait; the first one after the test folds', async () => {
  await sync();
  await sync();
  const [p1, p2] = pointIds('complete');
  const test = startSendenseRun(['failover', plan, '--test', '--db', ws.db]);
  started.add(test.pid);
  const running = (await test.waitForEvent((event) => event.type === 'test-running')) as {
    pointId?: string;
    domain?: string;
  };
  expect(running.pointId).toBe(p2);
  const first = await sync();
  expect(
    first.filter((event) => event.type === 'warning' && event.step === 'fold-points').map((event) => event.message),
  ).toEqual([
    `the failover test ${running.domain} reads point ${p2}: it and the points under it are not folded until the test ends`,
  ]);
  await sync();
  // The folds wait: every point is kept, nothing is left half folded.
  const during = pointIds('complete');
  expect(during).toHaveLength(4);
  expect(during.slice(0, 2)).toEqual([p1, p2]);
  expect(pointIds('folding')).toEqual([]);
  expect(countersAreOnePointInTime(replicaCounters())).toBe(true);
  expect(virshResult('domstate', running.domain!).stdout.trim()).toBe('running');
  process.kill(test.pid, 'SIGINT');
  const ended = await test.exited;
  expect(ended.exitCode, `${ended.stdout}\n${ended.stderr}`).toBe(0);
  const after = await sync();
  expect(after.filter((event) => event.type === 'warning')).toEqual([]);
  expect(pointIds('complete')).toHaveLength(2);
  expect(pointIds('folding')).toEqual([]);
  expect(countersAreOnePointInTime(replicaCounters())).toBe(true);
}, 900_000);
