// A recover run killed with kill -9 after the domain started, during the move and before the
// pivot; then doctor (docs/instant-recovery.md, "A killed recovery"): the recovered domain is never
// stopped (the same QEMU process runs on), doctor finishes the move, no qemu-nbd or port lease is
// left, and the disks hold the point's data and every write the guest made meanwhile.

import path from 'node:path';
import { mkdirSync, readdirSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readCounters, startGuest, virshResult, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import { tableRows } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { restorePoint, writeLibvirtPlan, writeRecoverPlan, type RestoredPoint } from './libvirt-plans.js';
import {
  domainImages,
  domainQemuPid,
  holdsPointData,
  largest,
  processesHolding,
  recoveredConsole,
  removeDomain,
  repositoryDigests,
} from './recover-support.js';
import { killAtEnv } from '../../src/crash-points.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-recover-crash-', { per: 'file' });
let guest: TestGuest;
let restored: RestoredPoint;
let digests: Record<string, string>;
const recovered: string[] = [];

beforeAll(async () => {
  guest = await startGuest({ name: 'rcrash', prefillMiB: 16 });
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  const plan = writeLibvirtPlan(ws.dir, {
    name: 'rcrash-src',
    vm: 'cvm',
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
  restored = await restorePoint(ws.dir, { vm: 'cvm', repository: ws.repository, ports, db: ws.db, point });
  digests = repositoryDigests(ws.repository);
}, 300_000);

afterEach(() => {
  for (const domain of recovered.splice(0)) removeDomain(domain);
});
afterAll(() => {
  restored?.remove();
  guest?.remove();
});

const leases = () => tableRows(ws.db, 'port_leases').length;

const lastRound = (domain: string, from: number) =>
  Number(
    [
      ...recoveredConsole(guest.dir, domain)
        .slice(from)
        .matchAll(/^W (\d+) /gm),
    ].at(-1)?.[1] ?? 0,
  );

describe('a recover run killed with kill -9, then doctor', () => {
  for (const phase of ['domain-started', 'copying', 'copies-ready'] as const) {
    it(`killed at ${phase}: doctor finishes the move and leaves the running domain alone`, async () => {
      const domain = `${guest.name}-${phase}`;
      recovered.push(domain);
      const storage = (key: number) => path.join(guest.dir, `${phase}-${key}.qcow2`);
      const plan = writeRecoverPlan(ws.dir, {
        name: `rcrash-${phase}`,
        vm: 'cvm',
        repository: ws.repository,
        ports,
        domain,
        storage: path.join(guest.dir, `${phase}-{key}.qcow2`),
        scratch: guest.dir,
        // Slow copies: the kill lands in the middle of the move.
        ...(phase === 'copying' ? { rate: '4MiB/s' } : {}),
      });
      const consoleFrom = recoveredConsole(guest.dir, domain).length;
      const killed = await sendenseRun([plan, '--db', ws.db], killAtEnv(`recover.${phase}`));
      expect(killed.exitCode, killed.stdout).not.toBe(0);
      expect(virshResult('domstate', domain).stdout.trim()).toBe('running');
      const qemu = domainQemuPid(domain);
      // The killed run's qemu-nbd still serves the point; the guest boots from it and writes.
      expect(processesHolding(ws.repository).length).toBeGreaterThan(0);
      await waitFor(
        () => recoveredConsole(guest.dir, domain).slice(consoleFrom).includes('FIRST-WRITE'),
        120_000,
        'the recovered guest to write',
      );
      expect(recoveredConsole(guest.dir, domain).slice(consoleFrom)).toContain(`RESUME ${largest(restored.counters)}`);
      const writtenBeforeDoctor = lastRound(domain, consoleFrom);

      const doctor = await sendenseRun(['doctor', '--db', ws.db]);
      expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
      expect(doctor.stdout).toMatch(/recovery of domain .*: (done|.*remove its overlays)/);
      // Never stopped: the same QEMU process, now on its storage files; nothing serves the repository.
      expect(virshResult('domstate', domain).stdout.trim()).toBe('running');
      expect(domainQemuPid(domain)).toBe(qemu);
      expect(domainImages(domain)).toEqual({ vda: storage(2000), vdb: storage(2001) });
      expect(processesHolding(ws.repository)).toEqual([]);
      expect(leases()).toBe(0);
      expect(readdirSync(guest.dir).filter((name) => name.startsWith('sendense-run-'))).toEqual([]);
      const again = await sendenseRun(['doctor', '--db', ws.db]);
      expect(again.stdout).not.toContain('recovery of domain');

      // Its data: the point's, and every write made before and after doctor.
      await waitFor(() => lastRound(domain, consoleFrom) >= writtenBeforeDoctor + 2, 60_000, 'writes after doctor');
      virshResult('destroy', domain);
      const counters = readCounters(storage(2000), storage(2001));
      expect(counters.vda64).toBeGreaterThan(writtenBeforeDoctor);
      expect(holdsPointData(storage(2000), restored.files[2000]!, 2000)).toBe(true);
      expect(holdsPointData(storage(2001), restored.files[2001]!, 2001)).toBe(true);
      expect(repositoryDigests(ws.repository)).toEqual(digests);
    }, 300_000);
  }
});
