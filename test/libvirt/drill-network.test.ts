// Recovery drills on an isolated network (docs/drills.md#the-isolated-network), with the real
// busybox guest and libvirt: the original runs on a network of its own with a static address and a
// web server (busybox httpd). A drill of its point puts the guest's interface on a bridge the drill
// makes (no uplink, no address of the host's) and probes the port from a network namespace on that
// bridge; a port nothing listens on fails the tcp check with what the probe found; the bridge and
// the namespace go whatever ends the drill, and after a kill -9 doctor removes them by the names the
// drill recorded. A drill plan run by `schedule` runs and records its drill.

import path from 'node:path';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAtEnv } from '../../src/crash-points.js';
import { drillNetworkNames, type DrillNetworkFacts } from '../../src/libvirt/drill-network.js';
import { SqliteDatabase } from '../../src/store/sqlite-driver.js';
import { startGuest, virshResult, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import { bridgePorts, createIsolatedNetwork, removeNetwork, type TestNetwork } from '../support/libvirt-networks.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { killScheduler, startScheduler, type SchedulerProcess } from '../schedule/scheduler-process.js';
import { writeLibvirtPlan } from './libvirt-plans.js';
import { processesHolding } from './recover-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-drill-net-', { per: 'file' });
// The original's own network: a bridge on this host with no address, nothing else on it.
const NETWORK: TestNetwork = ['sendense-test-drillnet', 'sdt-drillnet'];
const GUEST_ADDRESS = '10.77.0.5';
const PROBE = '10.77.0.250/24';
const PORT = 7777;
let guest: TestGuest;
let backupPlan: string;
let scratch: string;
let scheduler: SchedulerProcess | undefined;

interface DrillRow {
  run_id: string;
  backup_id: string;
  outcome: string;
  checks: string;
  console_tail: string | null;
}

function query<T>(sql: string, ...args: unknown[]): T[] {
  const db = new SqliteDatabase(ws.db, { readonly: true });
  try {
    return db.prepare(sql).all(...args) as T[];
  } finally {
    db.close();
  }
}

function checksOf(row: DrillRow): [string, string, string][] {
  return (JSON.parse(row.checks) as { check: string; status: string; detail: string }[]).map((check) => [
    check.check,
    check.status,
    check.detail,
  ]);
}

function lastRunId(plan: string): string {
  const [row] = query<{ id: string }>('SELECT id FROM runs WHERE plan = ? ORDER BY started_at DESC LIMIT 1', plan);
  return row!.id;
}

// What of a drill's network is on this host, found by its names only.
function networkLeft(names: DrillNetworkFacts): string[] {
  const link = (name: string) => spawnSync('ip', ['link', 'show', 'dev', name]).status === 0;
  return [
    ...(link(names.bridge) ? [names.bridge] : []),
    ...[names.veth, ...names.taps].filter(link),
    ...(existsSync(`/run/netns/${names.netns}`) ? [names.netns] : []),
  ];
}

// Every address this host has on an interface, with the interface's name.
function hostAddresses(): { ifname: string; local: string }[] {
  const links = JSON.parse(execFileSync('ip', ['-j', 'addr', 'show'], { encoding: 'utf8' })) as {
    ifname: string;
    addr_info: { local: string }[];
  }[];
  return links.flatMap((link) => link.addr_info.map((info) => ({ ifname: link.ifname, local: info.local })));
}

async function backUp(): Promise<string> {
  const from = guest.rounds();
  await waitFor(() => guest.rounds() >= from + 2, 60_000, 'the guest to write');
  const result = await sendenseRun([backupPlan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return /backup (\S+)$/m.exec(result.stdout)![1]!;
}

function drillDoc(name: string, checks: readonly object[], extra: Record<string, unknown> = {}): object {
  return {
    version: 1,
    kind: 'drill',
    name,
    vm: { name: 'nvm' },
    repository: { path: ws.repository },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
    drill: { point: 'latest', scratch, isolation: { network: 'isolated', probe: PROBE }, checks },
    ...extra,
  };
}

function drillPlan(name: string, checks: readonly object[]): string {
  const file = path.join(ws.dir, `${name}.yaml`);
  writeFileSync(file, stringify(drillDoc(name, checks)));
  return file;
}

function drillDomains(): string[] {
  return virshResult('list', '--all', '--name')
    .stdout.split('\n')
    .map((line) => line.trim())
    .filter((name) => name.startsWith('nvm-drill-'));
}

beforeAll(async () => {
  createIsolatedNetwork(NETWORK);
  guest = await startGuest({
    name: 'drill-net',
    agent: false,
    network: NETWORK[0],
    cmdline: `sendense.ip=${GUEST_ADDRESS}/24 sendense.listen=${PORT}`,
  });
  await waitFor(() => guest.consoleText().includes(`LISTENING ${PORT}`), 120_000, 'the original to listen');
  scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  backupPlan = writeLibvirtPlan(ws.dir, {
    name: 'drill-net-src',
    vm: 'nvm',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
    quiesce: 'off',
  });
}, 400_000);

afterAll(async () => {
  await killScheduler(scheduler);
  for (const domain of drillDomains()) virshResult('destroy', domain);
  guest?.remove();
  removeNetwork(NETWORK);
});

describe('a recovery drill on an isolated network', () => {
  it("probes the guest's port from its own namespace on its own bridge, the host without an address there, and removes both", async () => {
    await backUp();
    const plan = drillPlan('drill-tcp', [
      { boot: {} },
      { heartbeat: { console: `^LISTENING ${PORT}`, timeout: 300 } },
      { tcp: { port: PORT, address: GUEST_ADDRESS, timeout: 120 } },
    ]);
    const originalPorts = bridgePorts(NETWORK[1]);
    const addressesBefore = hostAddresses();
    // While the drill runs, every moment this test looks: its bridge holds the drill's veth and the
    // guest's tap, and neither it nor anything on it has an address of this host's.
    const running = sendenseRun([plan, '--db', ws.db]);
    let ended = false;
    void running.finally(() => (ended = true));
    let looksWhileRunning = 0;
    const addressesSeen: { ifname: string; local: string }[] = [];
    while (!ended) {
      const made = query<{ facts: string }>("SELECT facts FROM node_resources WHERE kind = 'drill-network'")[0];
      if (made !== undefined) {
        const { bridge } = JSON.parse(made.facts) as DrillNetworkFacts;
        const onBridge = bridgePorts(bridge);
        addressesSeen.push(...hostAddresses().filter((address) => [bridge, ...onBridge].includes(address.ifname)));
        if (onBridge.length === 2 && drillDomains().length === 1) looksWhileRunning += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const result = await running;
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(looksWhileRunning, 'looks at the bridge with its two ports while the domain ran').toBeGreaterThan(0);
    expect(addressesSeen).toEqual([]);

    const runId = lastRunId('drill-tcp');
    const [row] = query<DrillRow>('SELECT * FROM drills WHERE run_id = ?', runId);
    expect(row!.outcome).toBe('passed');
    const checks = checksOf(row!);
    expect(checks.map(([check, status]) => [check, status])).toEqual([
      ['boot', 'passed'],
      ['heartbeat', 'passed'],
      ['tcp', 'passed'],
    ]);
    expect(checks[2]![2]).toContain(`${GUEST_ADDRESS}:${PORT} answered from the drill's namespace`);
    // The drill's guest brought up the original's address on the drill's bridge.
    expect(row!.console_tail).toContain(`NET-UP ${GUEST_ADDRESS}/24`);

    // Nothing of the drill's network is left, and the original's network never saw the drill.
    expect(networkLeft(drillNetworkNames(runId, 1))).toEqual([]);
    expect(query('SELECT * FROM node_resources')).toEqual([]);
    expect(drillDomains()).toEqual([]);
    expect(readdirSync(scratch)).toEqual([]);
    expect(bridgePorts(NETWORK[1])).toEqual(originalPorts);
    expect(hostAddresses()).toEqual(addressesBefore);
    expect(guest.running()).toBe(true);
  }, 600_000);

  it('fails the tcp check on a port nothing answers, saying what the probe found, and removes the network', async () => {
    const plan = drillPlan('drill-tcp-closed', [
      { boot: {} },
      { heartbeat: { console: `^LISTENING ${PORT}`, timeout: 300 } },
      { tcp: { port: PORT + 1, address: GUEST_ADDRESS, timeout: 15 } },
    ]);
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, result.stdout).toBe(1);
    const output = `${result.stdout}\n${result.stderr}`;
    expect(output).toContain(
      `drill check tcp failed: ${GUEST_ADDRESS}:${PORT + 1} did not answer within 15 s (from the drill's namespace: connection refused)`,
    );
    expect(output).not.toMatch(/\n\s+at /);
    const runId = lastRunId('drill-tcp-closed');
    const [row] = query<DrillRow>('SELECT * FROM drills WHERE run_id = ?', runId);
    expect(checksOf(row!).map(([check, status]) => [check, status])).toEqual([
      ['boot', 'passed'],
      ['heartbeat', 'passed'],
      ['tcp', 'failed'],
    ]);
    expect(networkLeft(drillNetworkNames(runId, 1))).toEqual([]);
    expect(query('SELECT * FROM node_resources')).toEqual([]);
    expect(drillDomains()).toEqual([]);
  }, 600_000);

  it('refuses a tcp check without the isolated network, saying where', async () => {
    const file = path.join(ws.dir, 'drill-tcp-none.yaml');
    const doc = drillDoc('drill-tcp-none', [{ tcp: { port: PORT, address: GUEST_ADDRESS } }]) as {
      drill: Record<string, unknown>;
    };
    doc.drill.isolation = { network: 'none' };
    writeFileSync(file, stringify(doc));
    const result = await sendenseRun([file, '--db', ws.db]);
    expect(result.exitCode).toBe(2);
    expect(`${result.stdout}\n${result.stderr}`).toContain(
      "drill.checks[0].tcp: needs isolation: { network: isolated, probe: ADDRESS/PREFIX } (it probes from the drill's own namespace, never from the host)",
    );
  });

  for (const phase of ['network-made', 'domain-started'] as const) {
    it(`killed with kill -9 at ${phase}: doctor removes the drill's bridge and namespace by their recorded names`, async () => {
      const plan = drillPlan(`drill-net-kill-${phase}`, [{ boot: {} }, { heartbeat: { console: '^GUEST-UP' } }]);
      const killed = await sendenseRun([plan, '--db', ws.db], killAtEnv(`drill.${phase}`));
      expect(killed.exitCode, killed.stdout).not.toBe(0);
      const names = drillNetworkNames(lastRunId(`drill-net-kill-${phase}`), 1);
      // Left by the kill: the bridge, the veth, the tap and the namespace (and the domain, once started).
      expect(networkLeft(names)).toEqual([names.bridge, names.veth, ...names.taps, names.netns]);
      expect(drillDomains()).toHaveLength(phase === 'domain-started' ? 1 : 0);

      const doctor = await sendenseRun(['doctor', '--db', ws.db]);
      expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
      expect(doctor.stdout).toContain(`drill network: bridge ${names.bridge}, namespace ${names.netns}`);
      expect(networkLeft(names)).toEqual([]);
      expect(drillDomains()).toEqual([]);
      expect(readdirSync(scratch)).toEqual([]);
      expect(query('SELECT * FROM node_resources')).toEqual([]);
      expect(processesHolding(ws.repository)).toEqual([]);
      expect(guest.running()).toBe(true);
      const again = await sendenseRun(['doctor', '--db', ws.db]);
      expect(again.stdout).not.toContain('drill network');
    }, 600_000);
  }

  it('runs a drill plan through schedule and records its drill', async () => {
    const planned = path.join(ws.dir, 'scheduled');
    mkdirSync(planned);
    writeFileSync(
      path.join(planned, 'drill-weekly.yaml'),
      stringify(
        drillDoc(
          'drill-weekly',
          [
            { boot: {} },
            { heartbeat: { console: `^LISTENING ${PORT}`, timeout: 300 } },
            { tcp: { port: PORT, address: GUEST_ADDRESS } },
          ],
          { schedule: '* * * * * *' },
        ),
      ).replace('point: latest', 'point: new'),
    );
    scheduler = startScheduler([planned, '--db', ws.db]);
    const end = await scheduler.waitFor((line) => line.type === 'run-end' && line.plan === 'drill-weekly', 400_000);
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);
    expect(end.status, JSON.stringify(end)).toBe('succeeded');
    const [row] = query<DrillRow & { plan: string }>('SELECT * FROM drills WHERE plan = ?', 'drill-weekly');
    expect(row!.outcome).toBe('passed');
    expect(checksOf(row!).map(([check, status]) => [check, status])).toEqual([
      ['boot', 'passed'],
      ['heartbeat', 'passed'],
      ['tcp', 'passed'],
    ]);
    const history = await sendenseRun(['history', '--json', '--db', ws.db, '--plan', 'drill-weekly']);
    // Later fires found nothing new (point: new): the drilled point is proven once.
    const runs = history.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: string; taken: string; status: string });
    expect(runs.find((run) => run.id === row!.run_id)).toMatchObject({ taken: 'drill', status: 'succeeded' });
    expect(runs.filter((run) => run.status === 'succeeded')).toHaveLength(1);
    expect(query<{ trigger: string }>('SELECT "trigger" FROM runs WHERE id = ?', row!.run_id)).toEqual([
      { trigger: 'schedule' },
    ]);
    expect(query('SELECT * FROM node_resources')).toEqual([]);
    expect(drillDomains()).toEqual([]);
  }, 600_000);
});
