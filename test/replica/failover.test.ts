// Failover of a replica (docs/replication.md#failover), with real libvirt and a real guest
// (test/support/libvirt-guest.ts): a replicate plan keeps the running guest in sync on this host;
// `failover --test` boots a point as a throwaway domain with no network and gives everything back
// on Ctrl+C or when the guest is gone, the replica byte for byte as it was; a real failover starts
// the replica domain, after which a sync of the plan refuses; `replicas` lists the points.

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { withoutInterfaces } from '../../src/libvirt/replica-domain.js';
import { readCounter, startGuest, virsh, virshResult, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import { NotedProcesses } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { parseEvents, sendenseRun, startSendenseRun, type RunEventLine } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { tableRows } from '../support/process-tree.js';
import { nodeBlock, startTestNode, type NodeBlock } from '../ssh/ssh-node.js';
import { domainImages, exists, removeDomain, repositoryDigests } from '../libvirt/recover-support.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('replica-failover-', { per: 'file' });
// A network libvirt does not know: a domain that still has an interface on it cannot start.
const NO_SUCH_NETWORK = 'sendense-test-no-such-network';
let guest: TestGuest;
let replicaDir: string;
let plan: string;
let replicaDomain: string;
let testDomain: string;
/** Complete points, oldest first. */
const points: string[] = [];

interface TestRunning extends RunEventLine {
  readonly domain: string;
  readonly node: string;
  readonly pointId: string;
  readonly disks: readonly { readonly key: number; readonly overlay: string; readonly layer: string }[];
}

beforeAll(async () => {
  guest = await startGuest({ name: 'failover', prefillMiB: 8 });
  replicaDomain = `${guest.name}-replica`;
  testDomain = `${replicaDomain}-test`;
  // The replica's directory, as libvirt-qemu must reach it (the guest's dir is 0755).
  replicaDir = path.join(guest.dir, 'replica');
  mkdirSync(replicaDir, { mode: 0o755 });
  mkdirSync(path.join(guest.dir, 'scratch'), { mode: 0o755 });
  // The VM's definition (what the replica domain is defined from; the running guest keeps its own)
  // gets an interface a test must drop, and a console file of its own: one file has one writer.
  // It also shares a production directory with the guest (9p): a test domain must not get it.
  mkdirSync(productionShare(), { mode: 0o755 });
  const definition = virsh('dumpxml', '--inactive', guest.name)
    .replace(path.join(guest.dir, 'console.log'), replicaConsole())
    .replace(
      '</devices>',
      `<interface type='network'><source network='${NO_SUCH_NETWORK}'/><model type='virtio'/></interface><filesystem type='mount' accessmode='mapped'><source dir='${productionShare()}'/><target dir='prodshare'/></filesystem></devices>`,
    );
  writeFileSync(path.join(guest.dir, 'replica-domain.xml'), definition);
  virsh('define', path.join(guest.dir, 'replica-domain.xml'));
  plan = writeReplicatePlan({ name: 'failover-replica' });
  for (let sync = 0; sync < 2; sync++) {
    const from = guest.rounds();
    await waitFor(() => guest.rounds() >= from + 2, 60_000, 'the guest to write');
    points.push(await runSync(plan));
  }
}, 400_000);

const started = new NotedProcesses();
const startFailover = (args: readonly string[]) => {
  const run = startSendenseRun(args);
  started.add(run.pid);
  return run;
};
// A test that failed half-way leaves neither its failover run nor its test domain to the next one:
// the run is killed, and doctor ends its test (the domain destroyed, its overlays removed).
afterEach(async () => {
  started.killAll();
  if (testDomain === undefined) return;
  if (virshResult('domstate', testDomain).status === 0) await sendenseRun(['doctor', '--db', ws.db]);
  removeDomain(testDomain);
});

afterAll(() => {
  for (const domain of [testDomain, replicaDomain]) if (domain) removeDomain(domain);
  guest?.remove();
});

// The plan; with `node`, the same replica reached over SSH (the node is this host's filesystem).
function writeReplicatePlan(options: { name: string; file?: string; node?: NodeBlock }): string {
  const doc = {
    version: 1,
    kind: 'replicate',
    name: options.name,
    vm: {
      name: 'fvm',
      source: { type: 'libvirt', domain: guest.name, quiesce: 'off', scratch: path.join(guest.dir, 'scratch') },
    },
    replica: {
      ...(options.node ? { node: { ...options.node } } : {}),
      path: path.join(replicaDir, 'fvm-{key}.qcow2'),
      points: 3,
      domain: replicaDomain,
    },
    nbd: { ports: `${ports[0]}-${ports[1]}` },
  };
  const file = path.join(ws.dir, `${options.file ?? options.name}.yaml`);
  writeFileSync(file, stringify(doc));
  return file;
}

// One sync; its point's id.
async function runSync(file: string): Promise<string> {
  const result = await sendenseRun([file, '--json', '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return parseEvents(result.stdout).find((event) => event.type === 'run-end')!.backupId!;
}

const replicaConsole = () => path.join(guest.dir, 'replica-console.log');
const productionShare = () => path.join(guest.dir, 'production-share');
// A test domain's console: a file of its own beside the original's.
const testConsole = () => path.join(guest.dir, `${testDomain}-replica-console.log`);
const testConsoleText = () => (exists(testConsole()) ? readFileSync(testConsole(), 'utf8') : '');
const replicaConsoleText = () => (exists(replicaConsole()) ? readFileSync(replicaConsole(), 'utf8') : '');
const replicaPath = (key: number) => path.join(replicaDir, `fvm-${key}.qcow2`);
const layer = (key: number, point: string) => path.join(replicaDir, `fvm-${key}.${point}.qcow2`);

describe('failover --test', () => {
  it('boots the newest point with no network on overlays; Ctrl+C destroys it and removes them, the replica unchanged', async () => {
    const before = repositoryDigests(replicaDir);
    // The guest resumes from vda's first counter (written first in a round, so it may lead the others by one).
    const pointCounter = readCounter(layer(2000, points[1]!), 0);
    const productionConsole = replicaConsoleText();
    const run = startFailover(['failover', plan, '--test', '--db', ws.db]);
    const running = (await run.waitForEvent((event) => event.type === 'test-running')) as TestRunning;
    expect(running).toMatchObject({ domain: testDomain, pointId: points[1], network: false });
    const overlays = running.disks.map((disk) => disk.overlay);
    expect(overlays).toEqual([
      path.join(replicaDir, `fvm-2000.test-${points[1]}.qcow2`),
      path.join(replicaDir, `fvm-2001.test-${points[1]}.qcow2`),
    ]);
    expect(running.disks.map((disk) => disk.layer)).toEqual([layer(2000, points[1]!), layer(2001, points[1]!)]);
    // It runs the point: the guest goes on from the point's counter, writing into its overlay.
    await waitFor(() => readCounter(overlays[0]!, 64 * MiB) > pointCounter, 120_000, 'the test domain to write');
    expect(testConsoleText()).toContain(`RESUME ${pointCounter}`);
    expect(virshResult('domstate', testDomain).stdout.trim()).toBe('running');
    // Beside the original it reaches none of its host resources: no network, share or console file.
    const live = virsh('dumpxml', testDomain);
    for (const held of ['<interface', '<filesystem', productionShare(), `'${replicaConsole()}'`])
      expect(live, held).not.toContain(held);
    expect(replicaConsoleText(), "nothing written into production's console file").toBe(productionConsole);
    expect(readdirSync(productionShare())).toEqual([]);
    expect(virsh('dumpxml', '--inactive', replicaDomain)).toContain(NO_SUCH_NETWORK);
    // Meanwhile no failover: the replica domain could not write under the test's overlays.
    const failover = await sendenseRun(['failover', plan, '--db', ws.db]);
    expect(failover.exitCode, failover.stderr).toBe(1);
    expect(failover.stderr).toContain(`a failover test of this replica runs on this host (domain ${testDomain})`);
    process.kill(run.pid, 'SIGINT');
    const exit = await run.exited;
    expect(exit.exitCode, `${exit.stdout}\n${exit.stderr}`).toBe(0);
    expect(exit.stdout).toContain('"type":"test-ended"');
    expect(exit.stderr).toContain(
      `host share ${productionShare()} (guest tag prodshare) left out: it is the original's`,
    );
    expect(exit.stderr).toContain(`serial 0: writes to ${testConsole()}, not the original's ${replicaConsole()}`);
    expect(virshResult('domstate', testDomain).status).not.toBe(0);
    for (const overlay of overlays) expect(exists(overlay), overlay).toBe(false);
    expect(repositoryDigests(replicaDir)).toEqual(before);
    expect(virshResult('domstate', replicaDomain).stdout.trim()).toBe('shut off');
  }, 300_000);

  it('of an older point ends when its domain is gone (the guest shut off), with everything given back', async () => {
    const before = repositoryDigests(replicaDir);
    const run = startFailover(['failover', plan, '--test', '--point', points[0]!, '--db', ws.db]);
    const running = (await run.waitForEvent((event) => event.type === 'test-running')) as TestRunning;
    expect(running.pointId).toBe(points[0]);
    expect(tableRows(ws.db, 'node_resources')).toMatchObject([{ kind: 'test-domain', name: testDomain }]);
    virsh('destroy', testDomain);
    const exit = await run.exited;
    expect(exit.exitCode, `${exit.stdout}\n${exit.stderr}`).toBe(0);
    expect(exit.stdout).toContain('"why":"shut-off"');
    for (const disk of running.disks) expect(exists(disk.overlay), disk.overlay).toBe(false);
    expect(tableRows(ws.db, 'node_resources')).toEqual([]);
    expect(repositoryDigests(replicaDir)).toEqual(before);
  }, 300_000);

  it('killed, is ended by doctor: its domain destroyed, its overlays removed', async () => {
    const run = startFailover(['failover', plan, '--test', '--db', ws.db]);
    const running = (await run.waitForEvent((event) => event.type === 'test-running')) as TestRunning;
    process.kill(run.pid, 'SIGKILL');
    await run.exited;
    expect(virshResult('domstate', testDomain).stdout.trim()).toBe('running');
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toContain(`failover test domain ${testDomain}`);
    expect(virshResult('domstate', testDomain).status).not.toBe(0);
    for (const disk of running.disks) expect(exists(disk.overlay), disk.overlay).toBe(false);
    expect(tableRows(ws.db, 'node_resources')).toEqual([]);
  }, 300_000);

  it('on an SSH replica node: a lost connection ends it in one line, exit 1, the domain destroyed', async () => {
    const node = await startTestNode();
    try {
      const overNode = writeReplicatePlan({ name: 'failover-replica', file: 'over-ssh', node: nodeBlock(node) });
      const run = startFailover(['failover', overNode, '--test', '--db', ws.db]);
      const running = (await run.waitForEvent((event) => event.type === 'test-running')) as TestRunning;
      expect(running.node).toBe(`${node.sshd.user}@${node.host}:${node.sshd.port}`);
      expect(await node.sshd.killSessions()).not.toEqual([]);
      const exit = await run.exited;
      expect(exit.exitCode, `${exit.stdout}\n${exit.stderr}`).toBe(1);
      // One line for the failure; before it only the notes on what the test domain left out.
      const lines = exit.stderr.trim().split('\n');
      for (const line of lines.slice(0, -1)) expect(line).toMatch(/left out|not the original's/);
      expect(lines.filter((line) => line.startsWith('sendense-run:'))).toHaveLength(1);
      expect(exit.stderr).toMatch(
        /the SSH connection to the replica node is gone .*: the test of .* ended; .* destroyed, its overlays removed/,
      );
      expect(virshResult('domstate', testDomain).status).not.toBe(0);
      for (const disk of running.disks) expect(exists(disk.overlay), disk.overlay).toBe(false);
    } finally {
      await node.stop();
    }
  }, 300_000);
});

describe('replicas', () => {
  it('lists the complete points newest first, with the lag of the newest', async () => {
    const text = await sendenseRun(['replicas', '--db', ws.db]);
    expect(text.exitCode, text.stderr).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^plan failover-replica \(VM fvm\), replica on this host: 2 points, newest \d+:\d\d behind$/,
    );
    expect(lines[1]).toMatch(/^ {2}POINT +TAKEN +AGE +KIND +DISKS +WRITTEN$/);
    expect(lines[2]).toMatch(new RegExp(`^  ${points[1]} .* incremental +2 +`));
    expect(lines[3]).toMatch(new RegExp(`^  ${points[0]} .* full +2 +`));
    const json = await sendenseRun(['replicas', '--json', '--plan', 'failover-replica', '--db', ws.db]);
    const [replica] = json.stdout
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            plan: string;
            failover: unknown;
            points: { id: string; disks: { key: number; path: string; layer: string }[] }[];
          },
      );
    expect(replica).toMatchObject({ plan: 'failover-replica', failover: null });
    expect(replica!.points.map((point) => point.id)).toEqual([points[1], points[0]]);
    expect(replica!.points[0]!.disks).toMatchObject([
      { key: 2000, path: replicaPath(2000), layer: layer(2000, points[1]!) },
      { key: 2001, path: replicaPath(2001), layer: layer(2001, points[1]!) },
    ]);
  });
});

describe('failover', () => {
  it('refuses while the source domain still runs: one line, exit 1, nothing started or recorded', async () => {
    expect(guest.running()).toBe(true);
    const before = repositoryDigests(replicaDir);
    const definition = virsh('dumpxml', '--inactive', replicaDomain);
    const result = await sendenseRun(['failover', plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `sendense-run: the source domain ${guest.name} on this host is running: a failover now would run two copies of one VM; shut it down first, or give --force if it must start anyway`,
    ]);
    expect(virshResult('domstate', replicaDomain).stdout.trim()).toBe('shut off');
    expect(virsh('dumpxml', '--inactive', replicaDomain)).toBe(definition);
    expect(tableRows(ws.db, 'replica_failovers')).toEqual([]);
    expect(repositoryDigests(replicaDir)).toEqual(before);
  }, 120_000);

  it('from an older point whose domain cannot start: says why, forgets the failover, removes its overlays, restores the definition', async () => {
    const before = repositoryDigests(replicaDir);
    // --force: the source still runs; said loudly before anything starts.
    const result = await sendenseRun(['failover', plan, '--point', points[0]!, '--force', '--quiet', '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(1);
    expect(result.stderr).toContain(
      `WARNING: --force: the source domain ${guest.name} on this host is running, and the replica domain ${replicaDomain} starts beside it: two copies of one VM now run`,
    );
    expect(result.stderr).toMatch(
      new RegExp(
        `cannot start the replica domain ${replicaDomain} on this host: .*${NO_SUCH_NETWORK}.*; no failover is recorded: the syncs of the plan go on`,
      ),
    );
    expect(tableRows(ws.db, 'replica_failovers')).toEqual([]);
    expect(exists(path.join(replicaDir, `fvm-2000.failover-${points[0]}.qcow2`))).toBe(false);
    const definition = virsh('dumpxml', '--inactive', replicaDomain);
    expect(definition).toContain(replicaPath(2000));
    expect(definition).not.toContain('.failover-');
    expect(repositoryDigests(replicaDir)).toEqual(before);
  }, 120_000);

  it('starts the replica domain from the newest point; a sync then refuses, and so does a second failover', async () => {
    // The standby's own definition without the interface the test above could not start with.
    virsh('detach-interface', replicaDomain, 'network', '--config');
    // The original is lost: only then does a failover start without --force.
    guest.destroy();
    const pointCounter = readCounter(replicaPath(2000), 0);
    const consoleFrom = replicaConsoleText().length;
    const result = await sendenseRun(['failover', plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stderr).not.toContain('WARNING');
    expect(result.stdout).toMatch(
      new RegExp(
        `^failed over fvm: domain ${replicaDomain} started on this host from point ${points[1]} of .* \\(\\d+:\\d\\d ago\\)$`,
        'm',
      ),
    );
    expect(result.stdout).toContain(
      'the syncs of plan failover-replica are stopped: a scheduled or manual run of it refuses (docs/replication.md#failover)',
    );
    expect(virshResult('domstate', replicaDomain).stdout.trim()).toBe('running');
    await waitFor(
      () => replicaConsoleText().slice(consoleFrom).includes('FIRST-WRITE'),
      120_000,
      'the replica domain to write',
    );
    expect(replicaConsoleText().slice(consoleFrom)).toContain(`RESUME ${pointCounter}`);
    expect(Object.values(domainImages(replicaDomain))).toEqual([replicaPath(2000), replicaPath(2001)]);

    const sync = await sendenseRun([plan, '--db', ws.db]);
    expect(sync.exitCode, `${sync.stdout}\n${sync.stderr}`).toBe(1);
    expect(`${sync.stdout}${sync.stderr}`).toMatch(
      new RegExp(`the replica of fvm was failed over at .* \\(point ${points[1]}\\): syncs are stopped`),
    );
    const again = await sendenseRun(['failover', plan, '--db', ws.db]);
    expect(again.exitCode).toBe(1);
    expect(again.stderr).toMatch(
      new RegExp(
        `^sendense-run: plan failover-replica is failed over already: ${replicaDomain} on this host runs from point ${points[1]} since .* \\(\\d+:\\d\\d ago, run \\S+\\)$`,
      ),
    );
    const test = await sendenseRun(['failover', plan, '--test', '--db', ws.db]);
    expect(test.exitCode).toBe(1);
    expect(test.stderr).toContain(
      `is failed over to point ${points[1]}: ${replicaDomain} writes into its layer, so it cannot be tested`,
    );
    const replicas = await sendenseRun(['replicas', '--db', ws.db]);
    expect(replicas.stdout).toContain(`FAILED OVER at `);
    expect(replicas.stdout).toContain(`to point ${points[1]}: ${replicaDomain} runs on this host; syncs stopped`);
    // The layer the failed-over domain writes is not judged; the point under it still is (docs/replication.md#digests).
    const verified = await sendenseRun(['replicas', '--verify', plan, '--db', ws.db]);
    expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
    expect(verified.stdout).toMatch(
      new RegExp(`point ${points[1]} disk 2000: not checked \\(failed over: ${replicaDomain} writes into it\\)`),
    );
    expect(verified.stdout).toMatch(new RegExp(`point ${points[0]} disk 2000: good`));
    expect(tableRows(ws.db, 'vm_locks')).toEqual([]);
  }, 300_000);

  it('refuses a plan of another kind, in one line, exit 2', async () => {
    const other = path.join(ws.dir, 'backup.yaml');
    writeFileSync(
      other,
      stringify({
        version: 1,
        kind: 'backup',
        name: 'b',
        vm: { name: 'fvm', source: { type: 'libvirt', domain: guest.name } },
        repository: { path: path.join(ws.dir, 'repo') },
      }),
    );
    const result = await sendenseRun(['failover', other, '--db', ws.db]);
    expect(result).toMatchObject({
      exitCode: 2,
      stderr: `sendense-run: failover takes a replicate plan: ${other} is a backup plan`,
    });
  });
});

describe('withoutInterfaces', () => {
  it('drops every <interface> of a definition and nothing else', () => {
    const xml = `<domain type='kvm'><name>a</name><devices><disk type='file' device='disk'><source file='/a.qcow2'/><target dev='vda'/></disk><interface type='network'><source network='default'/></interface><interface type='bridge'><source bridge='br0'/></interface><serial type='pty'/></devices></domain>`;
    const result = withoutInterfaces(xml);
    expect(result).not.toContain('<interface');
    expect(result).toContain('<source file="/a.qcow2"/>');
    expect(result).toContain('<serial type="pty"/>');
  });
});
