// Quiescing a running libvirt domain through a real qemu-guest-agent in the guest, with an ext4
// filesystem the guest keeps writing: frozen only for the instant of the checkpoint, the time
// reported; never left frozen, whether the run ends, dies while it is frozen, or doctor must thaw.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freezeStatusOf, startGuest, virsh, waitFor, type TestGuest } from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { parseEvents, sendenseRun, startSendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { writeLibvirtPlan } from './libvirt-plans.js';
import { killAtEnv, NO_THAW_WATCHDOG } from '../../src/crash-points.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-quiesce-', { per: 'file' });
let guest: TestGuest;
let plan: string;

beforeAll(async () => {
  guest = await startGuest({ name: 'quiesce', fsDisk: true });
  expect(guest.consoleText()).toContain('FS-MOUNTED');
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  plan = writeLibvirtPlan(ws.dir, {
    name: 'quiesce-hourly',
    vm: 'quiesce',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
    quiesce: 'require',
  });
}, 180_000);
afterAll(() => guest?.remove());

describe('quiesce through the guest agent', () => {
  it('freezes the filesystems for the instant of the checkpoint and says for how long (output, --json, history)', async () => {
    const result = await sendenseRun([plan, '--db', ws.db, '--json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const done = parseEvents(result.stdout).find(
      (event) => event.type === 'step-done' && event.step === 'snapshot-source',
    ) as { facts?: { quiesced?: boolean; freezeMs?: number } };
    expect(done.facts?.quiesced).toBe(true);
    expect(done.facts?.freezeMs).toBeGreaterThanOrEqual(0);
    expect(
      parseEvents(result.stdout).some(
        (event) => event.type === 'info' && /frozen for \d+ ms \([1-9]\d* filesystem/.test(event.message ?? ''),
      ),
    ).toBe(true);
    expect(await freezeStatusOf(guest.name)).toBe('thawed');
    const history = await sendenseRun(['history', '--db', ws.db]);
    expect(history.stdout).toMatch(/note: guest frozen \d+ ms \([1-9]\d* filesystem\(s\)\)/);
  });

  it('a run killed while the guest is frozen: the watchdog on the node thaws it at once', async () => {
    const run = startSendenseRun([plan, '--db', ws.db], killAtEnv('libvirt.guest-frozen'));
    expect((await run.exited).signal).toBe('SIGKILL');
    await waitFor(
      () => virsh('qemu-agent-command', guest.name, '{"execute":"guest-fsfreeze-status"}').includes('thawed'),
      10_000,
      'the watchdog to thaw the guest',
    );
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, doctor.stderr).toBe(0);
    expect(doctor.stdout).toMatch(/guest filesystems of .* frozen .*: thaw it: done/);
  });

  it('without the watchdog, the guest stays frozen until doctor thaws it', async () => {
    const run = startSendenseRun([plan, '--db', ws.db], {
      ...killAtEnv('libvirt.guest-frozen'),
      [NO_THAW_WATCHDOG]: '1',
    });
    expect((await run.exited).signal).toBe('SIGKILL');
    expect(await freezeStatusOf(guest.name)).toBe('frozen');
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, doctor.stderr).toBe(0);
    expect(await freezeStatusOf(guest.name)).toBe('thawed');
    // And the guest goes on writing to its filesystem.
    const rounds = guest.rounds();
    await waitFor(() => guest.rounds() > rounds + 2, 20_000, 'the guest to write again');
    const next = await sendenseRun([plan, '--db', ws.db]);
    expect(next.exitCode, next.stderr).toBe(0);
  });
});
