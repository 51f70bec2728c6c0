// Instant recovery of a libvirt domain (docs/instant-recovery.md): the guest, backed up while it
// ran, dies; a recover plan boots it from the served point in seconds, the guest writes while its
// disks move home, and after the pivot it runs from its storage files, with the point's data and
// every write made during the recovery, nothing serving the repository, the repository unchanged.
// Real libvirt, a real guest (test/support/libvirt-guest.ts).

import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readCounters, startGuest, virshResult, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import { tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { parseEvents, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
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
const ws = useRunWorkspace('libvirt-recover-', { per: 'file' });
let guest: TestGuest;
let point: string;
let restored: RestoredPoint;
let digests: Record<string, string>;
const recovered: string[] = [];

beforeAll(async () => {
  guest = await startGuest({ name: 'recover', prefillMiB: 24 });
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  const plan = writeLibvirtPlan(ws.dir, {
    name: 'recover-src',
    vm: 'rvm',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
    quiesce: 'off',
  });
  for (let backup = 0; backup < 2; backup++) {
    const from = guest.rounds();
    await waitFor(() => guest.rounds() >= from + 2, 60_000, 'the guest to write');
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    point = /backup (\S+)$/m.exec(result.stdout)![1]!;
  }
  // The production domain dies; what the point holds is read back through a restore.
  guest.destroy();
  restored = await restorePoint(ws.dir, { vm: 'rvm', repository: ws.repository, ports, db: ws.db, point });
  digests = repositoryDigests(ws.repository);
}, 400_000);

afterEach(() => {
  for (const domain of recovered.splice(0)) removeDomain(domain);
});
afterAll(() => {
  restored?.remove();
  guest?.remove();
});

function recoverPlan(name: string, options: { moveStorage: boolean; rate?: string }) {
  const domain = `${guest.name}-${name}`;
  recovered.push(domain);
  const storage = path.join(guest.dir, `${name}-{key}.qcow2`);
  const plan = writeRecoverPlan(ws.dir, {
    name: `recover-${name}`,
    vm: 'rvm',
    repository: ws.repository,
    ports,
    domain,
    storage,
    scratch: guest.dir,
    ...options,
  });
  return { domain, plan, storage: (key: number) => storage.replace('{key}', String(key)) };
}

describe('recover a libvirt domain from a backup', () => {
  it('boots from the served point, writes during the move, and runs from its storage after the pivot', async () => {
    const { domain, plan, storage } = recoverPlan('live', { moveStorage: true, rate: '8MiB/s' });
    const consoleFrom = recoveredConsole(guest.dir, domain).length;
    // The original's console file is its own: the recovered domain writes a file of its own beside it.
    const productionConsole = guest.consoleText();
    const pointCounter = largest(restored.counters);
    const run = startSendenseRun([plan, '--db', ws.db]);
    const started = await run.waitForEvent((event) => event.type === 'step-done' && event.step === 'start-domain');
    expect(started.facts).toMatchObject({ domain });
    // The guest boots from the point (its counter resumes from the point's) and writes while the disks move.
    await waitFor(
      () => recoveredConsole(guest.dir, domain).slice(consoleFrom).includes('FIRST-WRITE'),
      300_000,
      'the recovered guest to write',
    );
    expect(recoveredConsole(guest.dir, domain).slice(consoleFrom)).toContain(`RESUME ${pointCounter}`);
    expect(guest.consoleText()).toBe(productionConsole);
    const lastRound = () =>
      Number(
        [
          ...recoveredConsole(guest.dir, domain)
            .slice(consoleFrom)
            .matchAll(/^W (\d+) /gm),
        ].at(-1)![1],
      );
    const writtenBeforePivot = lastRound();
    const wroteAt = Date.now();
    const exit = await run.exited;
    expect(exit.exitCode, `${exit.stdout}\n${exit.stderr}`).toBe(0);
    const events = parseEvents(exit.stdout);
    expect(events.some((event) => event.type === 'progress')).toBe(true);
    // Those writes were made while the disks moved: the switch-over came after them.
    const moved = exit.stdout
      .split('\n')
      .find((line) => line.includes('"type":"step-done"') && line.includes('"step":"move-storage"'));
    expect(Date.parse((JSON.parse(moved!) as { time: string }).time)).toBeGreaterThan(wroteAt);
    const pivotedAt = lastRound();

    // Runs from storage, with no copy job left on its disks; nothing holds the repository; no overlay left.
    expect(virshResult('domstate', domain).stdout.trim()).toBe('running');
    expect(domainImages(domain)).toEqual({ vda: storage(2000), vdb: storage(2001) });
    for (const target of ['vda', 'vdb'])
      expect(virshResult('blockjob', domain, target, '--raw').stdout.trim()).toBe('');
    expect(virshResult('dumpxml', '--inactive', domain).stdout).toContain(storage(2000));
    expect(processesHolding(ws.repository)).toEqual([]);
    expect(readdirSync(guest.dir).filter((name) => name.startsWith('sendense-run-'))).toEqual([]);

    // It keeps writing after the pivot; shut off, its disks hold the point's data and every write.
    await waitFor(() => lastRound() >= pivotedAt + 2, 60_000, 'writes after the pivot');
    virshResult('destroy', domain);
    const counters = readCounters(storage(2000), storage(2001));
    expect(counters.vda64).toBeGreaterThan(writtenBeforePivot);
    expect(counters.vda64).toBeGreaterThan(pointCounter);
    expect(holdsPointData(storage(2000), restored.files[2000]!, 2000)).toBe(true);
    expect(holdsPointData(storage(2001), restored.files[2001]!, 2001)).toBe(true);

    // The repository is unchanged and verifies.
    expect(repositoryDigests(ws.repository)).toEqual(digests);
    const verify = await sendenseRun(['verify', '--vm', 'rvm', '--db', ws.db]);
    expect(verify.exitCode, verify.stdout).toBe(0);
  }, 600_000);

  it('without moveStorage serves the point while the domain runs, through a SIGTERM, and copies its disks once it is shut off', async () => {
    const { domain, plan, storage } = recoverPlan('later', { moveStorage: false });
    const consoleFrom = recoveredConsole(guest.dir, domain).length;
    const run = startSendenseRun([plan, '--db', ws.db]);
    await run.waitForEvent((event) => event.type === 'step-start' && event.step === 'serve-while-used');
    await waitFor(
      () => recoveredConsole(guest.dir, domain).slice(consoleFrom).includes('FIRST-WRITE'),
      300_000,
      'the recovered guest to write',
    );
    process.kill(run.pid, 'SIGTERM');
    // Still served: the guest goes on writing, the run goes on.
    const rounds = () =>
      Number(
        [
          ...recoveredConsole(guest.dir, domain)
            .slice(consoleFrom)
            .matchAll(/^W (\d+) /gm),
        ].at(-1)?.[1] ?? 0,
      );
    const afterSignal = rounds();
    await waitFor(() => rounds() >= afterSignal + 3, 60_000, 'writes after the SIGTERM');
    expect(virshResult('domstate', domain).stdout.trim()).toBe('running');
    const lastWritten = rounds();
    // The operator shuts the domain down: its disks are copied to storage, the run ends.
    virshResult('destroy', domain);
    const exit = await run.exited;
    expect(exit.exitCode, `${exit.stdout}\n${exit.stderr}`).toBe(130);
    expect(exit.stdout).toContain('stays served until the domain is shut off');
    expect(virshResult('dumpxml', '--inactive', domain).stdout).toContain(storage(2000));
    const counters = readCounters(storage(2000), storage(2001));
    expect(counters.vda64).toBeGreaterThanOrEqual(lastWritten);
    expect(holdsPointData(storage(2001), restored.files[2001]!, 2001)).toBe(true);
    expect(processesHolding(ws.repository)).toEqual([]);
    expect(repositoryDigests(ws.repository)).toEqual(digests);
  }, 600_000);

  it('no other local user (nobody) can read or write the served point, on any socket or port of the run, while the recovered domain reads it', async () => {
    const { domain, plan } = recoverPlan('private', { moveStorage: false });
    const consoleFrom = recoveredConsole(guest.dir, domain).length;
    const run = startSendenseRun([plan, '--db', ws.db]);
    await run.waitForEvent((event) => event.type === 'step-start' && event.step === 'serve-while-used');
    // The recovered guest reads its disk through the served point: it resumes from the point's counter.
    await waitFor(
      () => recoveredConsole(guest.dir, domain).slice(consoleFrom).includes('FIRST-WRITE'),
      300_000,
      'the recovered guest to write',
    );
    expect(recoveredConsole(guest.dir, domain).slice(consoleFrom)).toContain(`RESUME ${largest(restored.counters)}`);

    // Every endpoint the run's qemu-nbd listen on, every port it leased, and what each overlay reads.
    const servers = processesHolding(ws.repository);
    expect(servers).toHaveLength(2);
    const listening = servers.map(listeningOf);
    const sockets = listening.flatMap((each) => each.sockets);
    const ports = [
      ...new Set([
        ...listening.flatMap((each) => each.ports),
        ...(tableRows(ws.db, 'port_leases') as { port: number }[]).map((lease) => lease.port),
      ]),
    ];
    const backings = overlayBackings(domain);
    expect(backings).toHaveLength(2);
    const urls = endpointUrls(backings, sockets, ports);
    // This user reaches what the domain reads (the URLs are right)...
    for (const backing of backings)
      expect(spawnSync('nbdinfo', ['--size', backing], { encoding: 'utf8' }).status, backing).toBe(0);
    // ...nobody reaches none of it, to read or to write.
    for (const url of urls) {
      const { read, write } = nobodyTries(url);
      expect(read.status, `nobody read ${url}: ${read.stdout}`).not.toBe(0);
      expect(write.status, `nobody wrote ${url}: ${write.stdout}`).not.toBe(0);
    }

    // The guest goes on; shut off, its disks are copied home and the run succeeds.
    const rounds = () =>
      Number(
        [
          ...recoveredConsole(guest.dir, domain)
            .slice(consoleFrom)
            .matchAll(/^W (\d+) /gm),
        ].at(-1)?.[1] ?? 0,
      );
    const afterTries = rounds();
    await waitFor(() => rounds() >= afterTries + 2, 60_000, 'writes after the tries');
    virshResult('destroy', domain);
    const exit = await run.exited;
    expect(exit.exitCode, `${exit.stdout}\n${exit.stderr}`).toBe(0);
    expect(repositoryDigests(ws.repository)).toEqual(digests);
  }, 600_000);
});
