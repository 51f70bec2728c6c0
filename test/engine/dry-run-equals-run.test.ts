// A dry run and the run of the same plan resolve the same things: the same parent, the same
// files (the new backup's id aside, decided at run time) and the same ports, for an incremental
// and for a restore. Both come from the steps' own resolvers, so they cannot drift apart.

import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, parseEvents, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('engine-dry-equals-');

interface DryStep {
  readonly step: string;
  readonly does: string;
}

interface StepDone {
  readonly type: string;
  readonly step?: string;
  readonly facts?: {
    readonly backupId?: string;
    readonly parentId?: string | null;
    readonly disks?: readonly { key: number; port?: number; file?: string }[];
  };
}

async function dryRun(plan: string): Promise<Record<string, string>> {
  const result = await sendenseRun([plan, '--db', ws.db, '--dry-run', '--json']);
  expect(result.exitCode, result.stderr).toBe(0);
  const { steps } = JSON.parse(result.stdout) as { steps: DryStep[] };
  return Object.fromEntries(steps.map((step) => [step.step, step.does]));
}

async function run(plan: string): Promise<Record<string, StepDone['facts']>> {
  const result = await sendenseRun([plan, '--db', ws.db, '--json']);
  expect(result.exitCode, result.stderr).toBe(0);
  const done = (parseEvents(result.stdout) as StepDone[]).filter(
    (event) => event.type === 'step-done' && event.step !== undefined,
  );
  return Object.fromEntries(done.map((event) => [event.step!, event.facts]));
}

// "2000:20100, 2001:20101" as allocate-ports says it.
function portList(facts: StepDone['facts']): string {
  return (facts?.disks ?? []).map((disk) => `${disk.key}:${disk.port}`).join(', ');
}

describe('--dry-run resolves what the run does', () => {
  it('an incremental: the same parent, files and ports', async () => {
    const disks = [2000, 2001].map((key) => {
      const file = createDisk(path.join(ws.dir, `disk-${key}.qcow2`), 16 * MiB);
      writeDisk(file, ['write -P 0x31 0 1M']);
      return { key, path: file };
    });
    const plan = writePlan(ws.dir, { name: 'same', vm: 'samevm', disks, repository: ws.repository, ports });
    await run(plan);
    const [full] = await listBackups(ws.db);
    writeDisk(disks[1].path, ['write -P 0x32 2M 1M']);

    const dry = await dryRun(plan);
    const done = await run(plan);
    const backupId = done['resolve-chain']!.backupId!;
    expect(done['resolve-chain']!.parentId).toBe(full.id);
    expect(dry['resolve-chain']).toMatch(new RegExp(`^incremental on backup ${full.id} `));
    const files = done['create-qcow2']!.disks!.map((disk) => {
      const parent = full.disks.find((d) => d.diskKey === disk.key)!.file;
      return `${disk.file!.replace(backupId, '<new-backup-id>')} (overlay on ${parent})`;
    });
    expect(dry['create-qcow2'].split('\n')).toEqual(files);
    expect(dry['allocate-ports']).toContain(`(${portList(done['allocate-ports'])})`);
  });

  it('a restore: the same point, files and ports', async () => {
    const repository = path.join(ws.dir, 'restore-repo');
    const disks = [2000, 2001].map((key) => ({ key, path: createDisk(path.join(ws.dir, `r-${key}.qcow2`), 8 * MiB) }));
    await run(writePlan(ws.dir, { name: 'restvm', vm: 'restvm', disks, repository, ports }));
    const [backup] = await listBackups(ws.db, 'restvm');
    const plan = path.join(ws.dir, 'restore.yaml');
    const target = { type: 'file', path: path.join(ws.dir, 'restored-{key}.qcow2') };
    writeFileSync(
      plan,
      stringify({
        version: 1,
        kind: 'restore',
        name: 'rest',
        vm: { name: 'restvm' },
        repository: { path: repository },
        nbd: { ports: `${ports[0]}-${ports[1]}` },
        restore: { point: 'latest', disks: [2001], target },
      }),
    );

    const dry = await dryRun(plan);
    const done = await run(plan);
    expect(done['resolve-point']!.backupId).toBe(backup.id);
    expect(dry['resolve-point']).toContain(`backup ${backup.id} `);
    const files = done['resolve-point']!.disks!.map((disk) => disk.file);
    expect(files).toEqual([backup.disks.find((d) => d.diskKey === 2001)!.file]);
    expect(dry['start-qemu-nbd']).toBe(
      `qemu-nbd -r (read-only) on ${files.join(', ')}, each on a Unix socket in a private directory`,
    );
    expect(dry['allocate-ports']).toContain(`(${portList(done['allocate-ports'])})`);
  });
});
