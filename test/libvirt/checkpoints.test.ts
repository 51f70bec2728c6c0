// A domain's checkpoints and who owns them (sendense-run checkpoints), retiring a plan (its
// checkpoints and bitmaps deleted, its points restorable, its next run a full), forget removing a
// chain's checkpoint, and doctor's orphaned checkpoints: reported, deleted only with consent, another
// tool's never. Real libvirt, the busybox guest running, two plans on one domain.

import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { SqliteDatabase } from '../../src/store/sqlite-driver.js';
import { startGuest, virsh, type TestGuest } from '../support/libvirt-guest.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { restorePoint, writeLibvirtPlan } from './libvirt-plans.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('libvirt-checkpoints-', { per: 'file' });
const OTHER_TOOL = 'virtnbdbackup.0';
let guest: TestGuest;
let nightly: string;
let weekly: string;
let weeklyRepository: string;
let common: { vm: string; domain: string; ports: [number, number]; scratch: string };

interface CheckpointLine {
  readonly name: string;
  readonly state: string;
  readonly plan: string | null;
  readonly repository: string | null;
  readonly point: string | null;
}

beforeAll(async () => {
  guest = await startGuest({ name: 'checkpoints' });
  const scratch = path.join(guest.dir, 'scratch');
  mkdirSync(scratch, { mode: 0o755 });
  common = { vm: 'ckpt', domain: guest.name, ports, scratch };
  nightly = writeLibvirtPlan(ws.dir, { ...common, name: 'ckpt-nightly', repository: ws.repository });
  weeklyRepository = path.join(ws.dir, 'weekly-repository');
  weekly = writeLibvirtPlan(ws.dir, { ...common, name: 'ckpt-weekly', repository: weeklyRepository });
}, 180_000);
afterAll(() => guest?.remove());

async function backUp(plan: string): Promise<{ id: string; output: string }> {
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  return { id: /backup (\S+)$/m.exec(result.stdout)![1]!, output: `${result.stdout}\n${result.stderr}` };
}

async function checkpoints(): Promise<CheckpointLine[]> {
  const result = await sendenseRun(['checkpoints', guest.name, '--json', '--db', ws.db]);
  expect(result.exitCode, result.stderr).toBe(0);
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as CheckpointLine & { type: string })
    .filter((line) => line.type === 'checkpoint');
}

const onDomain = () =>
  virsh('checkpoint-list', guest.name, '--name')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);

// The dirty bitmaps QEMU keeps on the running domain's disks, by name.
function qemuBitmaps(): string[] {
  const nodes = JSON.parse(virsh('qemu-monitor-command', guest.name, '{"execute":"query-named-block-nodes"}')) as {
    return: { 'dirty-bitmaps'?: { name: string }[] }[];
  };
  return [...new Set(nodes.return.flatMap((node) => (node['dirty-bitmaps'] ?? []).map((bitmap) => bitmap.name)))];
}

const changeIdOf = async (id: string) =>
  (await listBackups(ws.db, 'ckpt')).find((backup) => backup.id === id)!.disks[0]!.changeId!;

async function restoredDigest(point: string): Promise<string> {
  const restored = await restorePoint(ws.dir, { vm: 'ckpt', repository: ws.repository, ports, db: ws.db, point });
  try {
    const hash = createHash('sha256');
    for (const file of Object.values(restored.files)) hash.update(readFileSync(file));
    return hash.digest('hex');
  } finally {
    restored.remove();
  }
}

describe('checkpoints on a libvirt domain', () => {
  let nightlyNewest: string;

  it('lists each checkpoint with the plan and repository that own it, an orphan after a forget, and another tool’s', async () => {
    await backUp(nightly);
    nightlyNewest = (await backUp(nightly)).id;
    const weeklyFirst = (await backUp(weekly)).id;
    virsh('checkpoint-create-as', guest.name, OTHER_TOOL);

    // A database from before checkpoints were recorded by domain: its forget left the chain's
    // checkpoint on the domain, as every forget did then.
    const db = new SqliteDatabase(ws.db);
    db.prepare('delete from checkpoint_domains').run();
    db.close();
    const weeklyChain = (await listBackups(ws.db, 'ckpt')).find((backup) => backup.id === weeklyFirst)!.chainId;
    const orphan = await changeIdOf(weeklyFirst);
    const forgot = await sendenseRun([
      'forget',
      'ckpt',
      '--chain',
      weeklyChain,
      '--repository',
      weeklyRepository,
      '--db',
      ws.db,
    ]);
    expect(forgot.exitCode, forgot.stderr).toBe(0);
    expect(onDomain()).toContain(orphan);

    const listed = await checkpoints();
    const byName = new Map(listed.map((line) => [line.name, line]));
    expect(byName.get(await changeIdOf(nightlyNewest))).toMatchObject({
      state: 'owned',
      plan: 'ckpt-nightly',
      repository: ws.repository,
      point: nightlyNewest,
    });
    expect(byName.get(orphan)).toMatchObject({ state: 'orphaned', plan: null });
    expect(byName.get(OTHER_TOOL)).toMatchObject({ state: 'other tool' });
    // Only the nightly's newest: its older checkpoint went when the second backup completed.
    expect(listed.filter((line) => line.state === 'owned')).toHaveLength(1);

    const human = await sendenseRun(['checkpoints', guest.name, '--db', ws.db]);
    expect(human.stdout).toContain(`plan ckpt-nightly, repository ${ws.repository} (backup ${nightlyNewest}`);
    expect(human.stdout).toMatch(new RegExp(`${orphan} .* orphaned: `));
  });

  it('forget --chain removes that chain’s checkpoint from the domain', async () => {
    const weeklyAgain = await backUp(weekly);
    const name = await changeIdOf(weeklyAgain.id);
    expect(onDomain()).toContain(name);
    const chain = (await listBackups(ws.db, 'ckpt')).find((backup) => backup.id === weeklyAgain.id)!.chainId;
    const forgot = await sendenseRun([
      'forget',
      'ckpt',
      '--chain',
      chain,
      '--repository',
      weeklyRepository,
      '--db',
      ws.db,
    ]);
    expect(forgot.exitCode, forgot.stderr).toBe(0);
    expect(forgot.stdout).toContain(`checkpoint ${name} of domain ${guest.name} deleted`);
    expect(onDomain()).not.toContain(name);
    expect(qemuBitmaps()).not.toContain(name);
  });

  it('doctor reports the orphan, deletes it only with consent, and never another tool’s', async () => {
    const orphan = (await checkpoints()).find((line) => line.state === 'orphaned')!.name;
    const asked = await sendenseRun(['doctor', '--db', ws.db]);
    expect(asked.exitCode, asked.stderr).toBe(0);
    expect(asked.stdout).toContain(`orphaned checkpoint ${orphan} of domain ${guest.name}`);
    expect(asked.stdout).toContain('doctor --remove-orphaned-checkpoints deletes it');
    expect(onDomain()).toContain(orphan);

    const dry = await sendenseRun(['doctor', '--dry-run', '--remove-orphaned-checkpoints', '--db', ws.db]);
    expect(dry.exitCode).toBe(1);
    expect(onDomain()).toContain(orphan);

    const consented = await sendenseRun(['doctor', '--remove-orphaned-checkpoints', '--db', ws.db]);
    expect(consented.exitCode, `${consented.stdout}\n${consented.stderr}`).toBe(0);
    expect(consented.stdout).toContain(`orphaned checkpoint ${orphan} of domain ${guest.name}`);
    const left = onDomain();
    expect(left).not.toContain(orphan);
    expect(qemuBitmaps()).not.toContain(orphan);
    expect(left).toContain(OTHER_TOOL);
    expect(left).toContain(await changeIdOf(nightlyNewest));
  });

  it('retire is refused while a run holds the VM, then deletes the plan’s checkpoints, keeps its points restorable and its next run is a full', async () => {
    const before = await restoredDigest(nightlyNewest);
    const name = await changeIdOf(nightlyNewest);

    // A run of the plan holding the VM (this process stands in for it).
    const store = await openStore(ws.db);
    const holder = await store.createRun({ plan: 'ckpt-nightly', kind: 'incremental', trigger: 'manual' });
    await store.lockVm('ckpt', holder.id, 'ckpt-nightly');
    try {
      const refused = await sendenseRun(['retire', nightly, '--db', ws.db]);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).toContain(`VM ckpt is being backed up by run ${holder.id} of plan ckpt-nightly`);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(onDomain()).toContain(name);
    } finally {
      await store.unlockVm('ckpt', holder.id);
      await store.finishRun(holder.id, 'succeeded');
      await store.close();
    }

    // --dry-run --json: one JSON line of what it would do, and nothing done.
    const dry = await sendenseRun(['retire', nightly, '--dry-run', '--json', '--db', ws.db]);
    expect(dry.exitCode, dry.stderr).toBe(0);
    const lines = dry.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'retired', dryRun: true, checkpoints: [name] });
    expect(onDomain()).toContain(name);

    const retired = await sendenseRun(['retire', nightly, '--db', ws.db]);
    expect(retired.exitCode, `${retired.stdout}\n${retired.stderr}`).toBe(0);
    expect(retired.stdout).toContain(`checkpoint ${name} of domain ${guest.name}: deleted`);
    expect(onDomain()).toEqual([OTHER_TOOL]);
    expect(qemuBitmaps()).not.toContain(name);
    expect(await restoredDigest(nightlyNewest)).toBe(before);

    // onMissingChain: fail: this run takes a full because retire said so, not because it may.
    writeLibvirtPlan(ws.dir, { ...common, name: 'ckpt-nightly', repository: ws.repository, onMissingChain: 'fail' });
    const next = await backUp(nightly);
    expect(next.output).toContain('was retired');
    const then = await backUp(nightly);
    const types = (await listBackups(ws.db, 'ckpt')).map((backup) => [backup.id, backup.type]);
    expect(types).toContainEqual([next.id, 'full']);
    expect(types).toContainEqual([then.id, 'incremental']);
    expect((await checkpoints()).find((line) => line.state === 'owned')).toMatchObject({
      plan: 'ckpt-nightly',
      point: then.id,
    });
  });
});
