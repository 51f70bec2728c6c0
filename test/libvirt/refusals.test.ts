// What a libvirt source refuses, each in one line with nothing left behind: a domain that does not
// exist, a URI that does not answer, a disk target that is not there, a scratch directory the
// hypervisor's user cannot reach, and quiesce: require without a guest agent (auto warns and goes on).

import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuest, virsh, type TestGuest } from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { writeLibvirtPlan, type LibvirtTestPlan } from './libvirt-plans.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-refusals-', { per: 'file' });
let guest: TestGuest;
let scratch: string;

beforeAll(async () => {
  guest = await startGuest({ name: 'refusals', agent: false });
  scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
}, 180_000);
afterAll(() => guest?.remove());

function plan(changes: Partial<LibvirtTestPlan>): string {
  return writeLibvirtPlan(ws.dir, {
    name: 'refusals-hourly',
    vm: 'refusals',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
    ...changes,
  });
}

const ourCheckpoints = () =>
  virsh('checkpoint-list', guest.name, '--name')
    .split('\n')
    .filter((line) => line.trim().startsWith('sendense-'));

async function expectRefused(file: string, message: RegExp): Promise<void> {
  const result = await sendenseRun([file, '--db', ws.db]);
  expect(result.exitCode).toBe(1);
  const line = result.stderr.trim().split('\n').at(-1) ?? '';
  expect(`${result.stdout}\n${result.stderr}`).toMatch(message);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(line.length).toBeGreaterThan(0);
  // Nothing taken is left: no checkpoint, job, scratch directory or backup.
  expect(ourCheckpoints()).toEqual([]);
  expect(readdirSync(scratch)).toEqual([]);
  expect(virsh('domjobinfo', guest.name)).toMatch(/Job type:\s+None/);
  expect((await listBackups(ws.db, 'refusals')).filter((backup) => backup.status === 'complete')).toEqual([]);
}

describe('a libvirt source refuses, in one line, leaving nothing behind', () => {
  it('a domain that does not exist, naming the ones there', async () => {
    await expectRefused(
      plan({ domain: 'no-such-domain' }),
      /libvirt domain 'no-such-domain' does not exist on qemu:\/\/\/system \(domains there: .*sendense-test-refusals/,
    );
  });

  it('a URI that does not answer', async () => {
    await expectRefused(
      plan({ uri: 'qemu+unix:///system?socket=/nonexistent/libvirt-sock' }),
      /libvirt at qemu\+unix:\/\/\/system\?socket=\/nonexistent\/libvirt-sock does not answer: .*No such file or directory/,
    );
  });

  it('a disk target the domain does not have, naming its targets', async () => {
    await expectRefused(
      plan({ disks: [{ key: 2000, target: 'vdz' }] }),
      /disk target 'vdz' \(key 2000\) is not a disk of domain sendense-test-refusals \(its targets: hdc, vda, vdb\)/,
    );
  });

  it('a cdrom named as a disk', async () => {
    await expectRefused(
      plan({ disks: [{ key: 2000, target: 'hdc' }] }),
      /disk target 'hdc' \(key 2000\) of domain sendense-test-refusals cannot be backed up: a cdrom/,
    );
  });

  it("a scratch directory the hypervisor's user cannot reach", async () => {
    const hidden = mkdtempSync(path.join(ws.dir, 'scratch-'));
    try {
      await expectRefused(
        plan({ scratch: hidden }),
        /scratch directory .* is not usable by the hypervisor's user \(uid \d+\)/,
      );
      expect(readdirSync(hidden)).toEqual([]);
    } finally {
      rmSync(hidden, { recursive: true, force: true });
    }
  });

  it('quiesce: require without a guest agent, before anything is taken', async () => {
    await expectRefused(
      plan({ quiesce: 'require' }),
      /quiesce: require, but the guest agent of sendense-test-refusals did not answer within 5 s .*nothing was frozen or backed up/,
    );
  });

  it('quiesce: auto without a guest agent warns and takes a crash-consistent backup', async () => {
    const result = await sendenseRun([plan({ quiesce: 'auto' }), '--db', ws.db]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(`${result.stdout}${result.stderr}`).toMatch(/did not answer within 5 s .*crash-consistent, not quiesced/);
  });
});
