// Two plans on one VM and repository (docs/how-it-works.md#plans-that-share-a-vm): each continues
// its own chain and its retention merges its own points only; every point left is exact. A plan
// name recorded with another VM, or a disk recorded as another VM's, is refused in one line.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, writePlan as writeTestPlan } from '../support/sendense-cli.js';
import { createDisk, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { backupsOf, differenceFromSource, writeRetentionPlan, type PointChain } from './point-chain.js';

const ws = useRunWorkspace('plans-share-vm-');
const ports = portRangeForTestFile();
const MiB = 1024 * 1024;

describe('plans that share a VM', () => {
  it(
    'keep their own chains and points; a plan name or a disk of another VM is refused',
    { timeout: 600_000 },
    async () => {
      const disks = [{ key: 2000, path: createDisk(path.join(ws.dir, 'disk0.qcow2'), 16 * MiB) }];
      const chain: PointChain = {
        vm: 'vms',
        dir: ws.dir,
        db: ws.db,
        repository: ws.repository,
        ports,
        disks,
        ids: [],
        copies: {},
      };
      const plans = {
        a: writeRetentionPlan(chain, { keepLast: 2 }, 'a', 'vms-a'),
        b: writeRetentionPlan(chain, { keepLast: 3 }, 'b', 'vms-b'),
      };
      for (let i = 0; i < 4; i++) {
        for (const name of ['a', 'b'] as const) {
          writeDisk(disks[0]!.path, [`write -P 0x${(0x20 + i * 2 + (name === 'a' ? 0 : 1)).toString(16)} ${i}M 256k`]);
          const result = await sendenseRun([plans[name], '--db', ws.db]);
          expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
          const id = (await backupsOf(chain)).at(-1)!.id;
          chain.copies[id] = { 2000: keepCopy(disks[0]!.path, path.join(ws.dir, `p-${name}-${i}.qcow2`)) };
        }
      }
      const left = await backupsOf(chain);
      for (const name of ['a', 'b']) {
        const own = left.filter((backup) => backup.plan === `vms-${name}`);
        expect(own, name).toHaveLength(name === 'a' ? 2 : 3);
        // One chain per plan: the oldest is its full, each next one stands on the one before.
        expect(own.map((backup) => backup.parentId)).toEqual([null, ...own.slice(0, -1).map((backup) => backup.id)]);
        for (const backup of own)
          expect(differenceFromSource(backup.disks[0]!.file, chain.copies[backup.id]![2000]!), backup.id).toBe('');
      }

      // The same plan name, another VM and other disks: refused before anything is taken.
      const other = createDisk(path.join(ws.dir, 'other.qcow2'), 16 * MiB);
      const writePlan = (file: string, name: string, vm: string, disk: string) => {
        const doc = {
          version: 1,
          kind: 'incremental',
          name,
          vm: { name: vm, source: { type: 'qemu', disks: [{ key: 2000, path: disk }] } },
          repository: { path: ws.repository },
          nbd: { ports: `${ports[0]}-${ports[1]}` },
        };
        writeFileSync(path.join(ws.dir, file), stringify(doc));
        return path.join(ws.dir, file);
      };
      const sameName = await sendenseRun([writePlan('same-name.yaml', 'vms-a', 'vmo', other), '--db', ws.db]);
      expect(sameName.exitCode, `${sameName.stdout}\n${sameName.stderr}`).toBe(1);
      expect(sameName.stderr).not.toContain('    at ');
      expect(sameName.stderr).toContain('plan vms-a already backs up VM vms (backup ');
      expect(sameName.stderr).toContain('not vmo: a plan name belongs to one VM; rename this plan');

      // Another name, another VM name, the same disk image: refused too.
      const sameDisk = await sendenseRun([
        writePlan('same-disk.yaml', 'vmo-plan', 'vmo', disks[0]!.path),
        '--db',
        ws.db,
      ]);
      expect(sameDisk.exitCode, `${sameDisk.stdout}\n${sameDisk.stderr}`).toBe(1);
      expect(sameDisk.stderr).toContain(`disk 2000 (${disks[0]!.path}) is recorded as a disk of VM vms (backup `);
      expect((await backupsOf({ ...chain, vm: 'vmo' })).filter((backup) => backup.status === 'complete')).toEqual([]);
    },
  );
});

describe("another plan's points", () => {
  it('backups names the plan of each chain; a second plan says it takes a full because the points there are another plan’s', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 8 * MiB);
    writeDisk(disk, ['write -P 0x41 0 1M']);
    const plan = (name: string, onMissingChain?: 'fail') =>
      writeTestPlan(ws.dir, {
        name,
        vm: 'web01',
        disks: [{ key: 2000, path: disk }],
        repository: ws.repository,
        ports,
        ...(onMissingChain && { incremental: { onMissingChain } }),
      });
    const nightly = plan('web01-nightly');
    for (let i = 0; i < 2; i++) expect((await sendenseRun([nightly, '--db', ws.db])).exitCode).toBe(0);
    const words = `no complete backup of web01 by plan web01-hourly in ${ws.repository}`;
    const theirs = '(plan web01-nightly has 2 points there)';

    const strict = await sendenseRun([plan('web01-hourly', 'fail'), '--db', ws.db]);
    expect(strict.exitCode, `${strict.stdout}\n${strict.stderr}`).toBe(1);
    expect(strict.stderr).toContain(
      `${words} to build an incremental on ${theirs}, and incremental.onMissingChain is 'fail'`,
    );
    const hourly = plan('web01-hourly');
    const dry = await sendenseRun([hourly, '--dry-run', '--db', ws.db]);
    expect(dry.stdout).toContain(`full backup into a new chain: ${words} yet ${theirs}: taking a full backup`);
    const first = await sendenseRun([hourly, '--db', ws.db]);
    expect(first.exitCode, `${first.stdout}\n${first.stderr}`).toBe(0);
    expect(first.stdout).toContain(`${words} yet ${theirs}: taking a full backup`);

    const listed = (await sendenseRun(['backups', '--db', ws.db])).stdout;
    const chains = listed.split('\n').filter((line) => line.startsWith('  chain '));
    expect(chains.map((line) => / of plan (\S+): (\d+) points?,/.exec(line)?.slice(1))).toEqual(
      expect.arrayContaining([
        ['web01-nightly', '2'],
        ['web01-hourly', '1'],
      ]),
    );
    expect(chains).toHaveLength(2);
  });
});
