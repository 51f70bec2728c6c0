// Retention merges in an encrypted repository (a real GPT + ext4 guest backed up into a repository
// made with repository.encryption.keyFile): prune without a key changes nothing (one line, exit 2);
// with the key every kept point reads and restores exactly as the source did; a merge killed after
// its files began to change is left by doctor without the key (said, exit 1) and finished with
// --key-file, after which every point is exact and verify passes; the key's text is never printed.

import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repositoryFingerprint } from '../files/guest-disk.js';
import { restoredDifference } from '../restore/restore-plan.js';
import { recordedProcesses, tableRows } from '../support/process-tree.js';
import { killIfAlive } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import {
  backUpPoints,
  backupsOf,
  cli,
  expectKeyNowhere,
  expectOneLine,
  expectPointsExact,
  makeEncryptedGuest,
  writeBackupPlan,
  writeRestorePlan,
  type EncryptedGuest,
} from './encrypted-guest.js';
import { killAtEnv } from '../../src/crash-points.js';

const ws = useRunWorkspace('encrypted-merges-', { per: 'file' });
const ports = portRangeForTestFile(20);
let guest: EncryptedGuest;

beforeAll(async () => {
  guest = makeEncryptedGuest(ws.dir, 'mergevm', ports);
  await backUpPoints(guest, 4);
}, 300_000);

afterAll(() => {
  if (guest !== undefined) expectKeyNowhere(guest);
});

// Each point restored by a restore plan with the key into a plain qcow2, compared with the source then.
async function expectPointsRestore(ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    const to = path.join(ws.dir, `restored-${id}.qcow2`);
    rmSync(to, { force: true });
    const result = await cli(guest, [writeRestorePlan(guest, `restore-${id}`, id, to)]);
    expect(result.exitCode, `restore ${id}: ${result.stdout}\n${result.stderr}`).toBe(0);
    expect(restoredDifference(guest.copies[id]!, to, 'qcow2'), `restore of ${id}`).toBe('');
  }
}

describe('retention in an encrypted repository', () => {
  it('prune without a key (a plan without repository.encryption): one line, exit 2, nothing merged or changed', async () => {
    const before = repositoryFingerprint(guest.repository);
    const backups = tableRows(guest.db, 'backups');
    const result = await cli(guest, [
      'prune',
      writeBackupPlan(guest, 'keep3-nokey', { retention: { keepLast: 3 }, encryption: false }),
    ]);
    expectOneLine(result, 2, /keep3-nokey\.yaml: repository .* is encrypted; no key given/);
    expect(repositoryFingerprint(guest.repository)).toEqual(before);
    expect(tableRows(guest.db, 'backups')).toEqual(backups);
    expect(tableRows(guest.db, 'merges')).toEqual([]);
    expect(tableRows(guest.db, 'vm_locks')).toEqual([]);
  });

  it("prune with the plan's key folds the full forward: every kept point reads and restores exactly, verify is clean", async () => {
    const result = await cli(guest, ['prune', writeBackupPlan(guest, 'keep3', { retention: { keepLast: 3 } })]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('1 point(s) merged');
    const left = await expectPointsExact(guest);
    expect(left).toEqual(guest.ids.slice(1));
    expect((await backupsOf(guest))[0]!.type).toBe('full');
    await expectPointsRestore(left);
    const verified = await cli(guest, ['verify', '--vm', guest.vm, '--key-file', guest.keyFile]);
    expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
    expect(verified.stdout).toContain('verified 3 backup(s), no damage found');
  }, 300_000);

  it('a merge killed after its files changed: doctor leaves it without the key (exit 1, said), finishes it with --key-file; every point exact', async () => {
    const plan = writeBackupPlan(guest, 'keep2', { retention: { keepLast: 2 }, encryption: false });
    const [going, child] = (await backupsOf(guest)).map((backup) => backup.id) as [string, string, string];
    const killed = await cli(guest, ['prune', plan, '--key-file', guest.keyFile], {
      ...killAtEnv('merge.copied'),
    });
    expect(killed.exitCode, `${killed.stdout}\n${killed.stderr}`).toBe(-1);
    expect(tableRows(guest.db, 'merges')).toHaveLength(1);

    const withoutKey = await cli(guest, ['doctor']);
    expect(withoutKey.exitCode, `${withoutKey.stdout}\n${withoutKey.stderr}`).toBe(1);
    expect(withoutKey.stdout).toContain(
      `! interrupted merge of backup ${going} into ${child} (VM ${guest.vm}, run ${(tableRows(guest.db, 'merges')[0] as { run_id: string }).run_id}): left for later: the merge of backup ${going} into ${child} in encrypted repository ${guest.repository} needs its key (none was given): run sendense-run doctor --key-file FILE`,
    );
    expect(tableRows(guest.db, 'merges')).toHaveLength(1);
    // Its killed qemu-nbd processes are stopped all the same; the VM stays refused until the merge is finished.
    expect(recordedProcesses(guest.db)).toEqual([]);
    const dry = await cli(guest, ['doctor', '--dry-run']);
    expect(dry.exitCode, dry.stdout).toBe(1);
    expect(dry.stdout).toContain('needs its key');
    const refused = await cli(guest, ['serve', guest.vm, '--key-file', guest.keyFile]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`unfinished merge of backup ${going} into ${child}`);

    const withKey = await cli(guest, ['doctor', '--key-file', guest.keyFile]);
    expect(withKey.exitCode, `${withKey.stdout}\n${withKey.stderr}`).toBe(0);
    expect(withKey.stdout).toContain(`interrupted merge of backup ${going} into ${child}`);
    expect(withKey.stdout).toContain('finish it: done');
    for (const record of recordedProcesses(guest.db)) killIfAlive(record);
    expect(recordedProcesses(guest.db)).toEqual([]);
    expect(tableRows(guest.db, 'merges')).toEqual([]);

    const left = await expectPointsExact(guest);
    expect(left).toEqual(guest.ids.slice(2));
    await expectPointsRestore(left);
    const verified = await cli(guest, ['verify', '--key-file', guest.keyFile]);
    expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
    expect(verified.stdout).toContain('verified 2 backup(s), no damage found');
    // The next backup builds on the merged chain, exactly.
    await backUpPoints(guest, 1);
    expect(await expectPointsExact(guest)).toEqual(guest.ids.slice(2));
  }, 300_000);
});
