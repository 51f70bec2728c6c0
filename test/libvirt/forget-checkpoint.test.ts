// A libvirt point removed by forget or retention takes its checkpoint with it, as a qemu point
// takes its bitmap (docs/how-it-works.md#forget): a checkpoint nothing can continue from would
// otherwise stay on the domain for good, its bitmap tracking every write (campaign seed 1, libvirt).

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGuest, virsh, type TestGuest } from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { writeLibvirtPlan } from './libvirt-plans.js';
import { killAtEnv } from '../../src/crash-points.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-forget-checkpoint-', { per: 'file' });
let guest: TestGuest;
let plan: string;

beforeAll(async () => {
  guest = await startGuest({ name: 'forget-checkpoint' });
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  plan = writeLibvirtPlan(ws.dir, {
    name: 'forget-checkpoint',
    vm: 'forgetcp',
    domain: guest.name,
    repository: ws.repository,
    ports,
    scratch,
    disks: [{ key: 2000, target: 'vdb' }],
  });
}, 180_000);
afterAll(() => guest?.remove());

const ourCheckpoints = () =>
  virsh('checkpoint-list', guest.name, '--name')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('sendense-'));

async function backUp(): Promise<string> {
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return /backup (\S+)$/m.exec(result.stdout)![1]!;
}

const changeIdOf = async (id: string) =>
  (await listBackups(ws.db, 'forgetcp')).find((backup) => backup.id === id)!.disks[0]!.changeId;

describe('a removed point of a running libvirt domain', () => {
  it('forget of the newest point deletes its checkpoint; the next backup starts a new chain and keeps one', async () => {
    await backUp();
    const newest = await backUp();
    expect(ourCheckpoints()).toEqual([await changeIdOf(newest)]);

    const forget = await sendenseRun(['forget', 'forgetcp', '--point', newest, '--db', ws.db]);
    expect(forget.exitCode, `${forget.stdout}\n${forget.stderr}`).toBe(0);
    expect(ourCheckpoints()).toEqual([]);

    const next = await sendenseRun([plan, '--db', ws.db]);
    expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
    expect(next.stdout).toMatch(/full, new chain/);
    const id = /backup (\S+)$/m.exec(next.stdout)![1]!;
    expect(ourCheckpoints()).toEqual([await changeIdOf(id)]);
  }, 180_000);

  it('forget killed once the point is gone: doctor deletes its checkpoint', async () => {
    const newest = await backUp();
    expect(ourCheckpoints()).toEqual([await changeIdOf(newest)]);
    const killed = await sendenseRun(
      ['forget', 'forgetcp', '--point', newest, '--db', ws.db],
      killAtEnv('prune.removed'),
    );
    expect(killed.exitCode, `${killed.stdout}\n${killed.stderr}`).toBe(-1);
    expect((await listBackups(ws.db, 'forgetcp')).map((backup) => backup.id)).not.toContain(newest);
    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(ourCheckpoints()).toEqual([]);
  }, 180_000);
});
