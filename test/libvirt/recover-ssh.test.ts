// Instant recovery onto an SSH node (docs/instant-recovery.md, "Who can open the served point"):
// the hub serves the point on its own sockets, the tunnel ends in a socket in a private directory
// on the node, and only libvirt's QEMU user is let in there. The recovered guest (real libvirt, a
// real busybox guest) boots and writes through it; nobody opens none of the run's endpoints.

import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readCounters, startGuest, virshResult, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import { tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { nodeBlock, startTestNode, type TestNode } from '../ssh/ssh-node.js';
import { restorePoint, writeLibvirtPlan, writeRecoverPlan, type RestoredPoint } from './libvirt-plans.js';
import {
  domainImages,
  endpointUrls,
  holdsPointData,
  largest,
  listeningOf,
  nobodyTries,
  overlayBackings,
  processesHolding,
  recoveredConsole,
  removeDomain,
  repositoryDigests,
} from './recover-support.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-recover-ssh-', { per: 'file' });
let guest: TestGuest;
let node: TestNode;
let restored: RestoredPoint;
let digests: Record<string, string>;
const recovered: string[] = [];

beforeAll(async () => {
  [guest, node] = await Promise.all([startGuest({ name: 'rssh', prefillMiB: 16 }), startTestNode()]);
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  const plan = writeLibvirtPlan(ws.dir, {
    name: 'rssh-src',
    vm: 'svm',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
    quiesce: 'off',
  });
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  const point = /backup (\S+)$/m.exec(result.stdout)![1]!;
  guest.destroy();
  restored = await restorePoint(ws.dir, { vm: 'svm', repository: ws.repository, ports, db: ws.db, point });
  digests = repositoryDigests(ws.repository);
}, 300_000);

afterEach(() => {
  for (const domain of recovered.splice(0)) removeDomain(domain);
});
afterAll(async () => {
  restored?.remove();
  guest?.remove();
  await node?.stop();
});

const rounds = (domain: string, from: number) =>
  Number(
    [
      ...recoveredConsole(guest.dir, domain)
        .slice(from)
        .matchAll(/^W (\d+) /gm),
    ].at(-1)?.[1] ?? 0,
  );

function recoverPlan(name: string, moveStorage: boolean) {
  const domain = `${guest.name}-${name}`;
  recovered.push(domain);
  const storage = path.join(guest.dir, `${name}-{key}.qcow2`);
  const plan = writeRecoverPlan(ws.dir, {
    name: `rssh-${name}`,
    vm: 'svm',
    repository: ws.repository,
    ports,
    domain,
    storage,
    scratch: guest.dir,
    moveStorage,
    node: { ...nodeBlock(node) },
  });
  return { domain, plan, storage: (key: number) => storage.replace('{key}', String(key)) };
}

describe('recover onto an SSH node', () => {
  it('the guest reads its disk through the node socket; nobody opens no socket or port of the run, on the hub or the node', async () => {
    const { domain, plan, storage } = recoverPlan('private', false);
    const consoleFrom = recoveredConsole(guest.dir, domain).length;
    const run = startSendenseRun([plan, '--db', ws.db]);
    await run.waitForEvent((event) => event.type === 'step-start' && event.step === 'serve-while-used');
    await waitFor(
      () => recoveredConsole(guest.dir, domain).slice(consoleFrom).includes('FIRST-WRITE'),
      120_000,
      'the recovered guest to write',
    );
    expect(recoveredConsole(guest.dir, domain).slice(consoleFrom)).toContain(`RESUME ${largest(restored.counters)}`);

    // What each overlay reads.
    const backings = overlayBackings(domain);
    expect(backings).toHaveLength(2);
    // Every socket in the directories of those on the node, every endpoint of the hub's qemu-nbd, every leased port.
    const nodeSockets = backings.flatMap((backing) => new URL(backing).searchParams.get('socket') ?? []);
    const tunnelDirs = [...new Set(nodeSockets.map((socket) => path.dirname(socket)))];
    const listening = processesHolding(ws.repository).map(listeningOf);
    expect(listening).toHaveLength(2);
    const sockets = [
      ...tunnelDirs.flatMap((dir) => readdirSync(dir).map((name) => path.join(dir, name))),
      ...listening.flatMap((each) => each.sockets),
    ];
    const leased = (tableRows(ws.db, 'port_leases') as { port: number }[]).map((lease) => lease.port);
    const tcp = [...new Set([...listening.flatMap((each) => each.ports), ...leased])];
    const urls = endpointUrls(backings, sockets, tcp);
    for (const backing of backings)
      expect(spawnSync('nbdinfo', ['--size', backing], { encoding: 'utf8' }).status, backing).toBe(0);
    // nobody on the hub and, where the node is a network namespace of its own, on the node.
    for (const netns of new Set([undefined, node.netns?.name])) {
      for (const url of urls) {
        const { read, write } = nobodyTries(url, netns);
        expect(read.status, `nobody read ${url} (netns ${netns}): ${read.stdout}`).not.toBe(0);
        expect(write.status, `nobody wrote ${url} (netns ${netns}): ${write.stdout}`).not.toBe(0);
      }
    }
    // Those are sockets on the node, in the tunnel's private directory.
    expect(nodeSockets).toHaveLength(2);
    for (const socket of nodeSockets) expect(path.basename(path.dirname(socket))).toMatch(/^sendense-tunnel-/);

    // The guest goes on; shut off, its disks are copied home through the node socket.
    const afterTries = rounds(domain, consoleFrom);
    await waitFor(() => rounds(domain, consoleFrom) >= afterTries + 2, 60_000, 'writes after the tries');
    const lastWritten = rounds(domain, consoleFrom);
    virshResult('destroy', domain);
    const exit = await run.exited;
    expect(exit.exitCode, `${exit.stdout}\n${exit.stderr}`).toBe(0);
    expect(readCounters(storage(2000), storage(2001)).vda64).toBeGreaterThanOrEqual(lastWritten);
    expect(holdsPointData(storage(2001), restored.files[2001]!, 2001)).toBe(true);
    for (const dir of tunnelDirs) expect(existsSync(dir)).toBe(false);
    expect(processesHolding(ws.repository)).toEqual([]);
    expect(repositoryDigests(ws.repository)).toEqual(digests);
  }, 300_000);

  it('moves the running domain home through the node socket', async () => {
    const { domain, plan, storage } = recoverPlan('moved', true);
    const exit = await sendenseRun([plan, '--db', ws.db]);
    expect(exit.exitCode, `${exit.stdout}\n${exit.stderr}`).toBe(0);
    expect(virshResult('domstate', domain).stdout.trim()).toBe('running');
    expect(domainImages(domain)).toEqual({ vda: storage(2000), vdb: storage(2001) });
    expect(processesHolding(ws.repository)).toEqual([]);
    virshResult('destroy', domain);
    expect(holdsPointData(storage(2001), restored.files[2001]!, 2001)).toBe(true);
    expect(repositoryDigests(ws.repository)).toEqual(digests);
  }, 300_000);
});
