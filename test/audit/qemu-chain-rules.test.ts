// Chain rules of qemu sources through the CLI (docs/how-it-works.md#change-tracking-by-source and docs/how-it-works.md#the-data-path): a bitmap gone from one
// disk of two means a warned full (or, with onMissingChain: fail, a failure that touches nothing);
// retention never deletes the chain just built; a source that is itself an overlay is read whole.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { leasedPorts, recordedProcesses } from '../support/process-tree.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan, type CliResult } from '../support/sendense-cli.js';
import { bitmapNames, createDisk, differenceBetween, keepCopy, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports: [number, number] = [45980, 45999];
const ws = useRunWorkspace('audit-chain-', { repository: 'repo' });

function expectOk(result: CliResult): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
}

function repositoryFiles(): string[] {
  return existsSync(ws.repository)
    ? (readdirSync(ws.repository, { recursive: true }) as string[]).filter((f) => f.endsWith('.qcow2')).sort()
    : [];
}

describe('qemu chain rules', () => {
  it('a bitmap removed from one disk of two: onMissingChain fail touches nothing; full takes a warned full of both', async () => {
    const disks = [
      { key: 2000, path: createDisk(path.join(ws.dir, 'd0.qcow2'), 16 * MiB) },
      { key: 2001, path: createDisk(path.join(ws.dir, 'd1.qcow2'), 16 * MiB) },
    ];
    writeDisk(disks[0].path, ['write -P 0x11 0 2M']);
    writeDisk(disks[1].path, ['write -P 0x21 0 2M']);
    const first = writePlan(ws.dir, {
      name: 'first',
      kind: 'backup',
      vm: 'vm1',
      disks,
      repository: ws.repository,
      ports,
    });
    expectOk(await sendenseRun([first, '--db', ws.db]));
    // The same plan (a chain belongs to the plan that made it), strict about a missing chain.
    const strict = writePlan(ws.dir, {
      name: 'first',
      vm: 'vm1',
      disks,
      repository: ws.repository,
      ports,
      incremental: { onMissingChain: 'fail' },
    });
    const [full] = await listBackups(ws.db);
    const bitmaps = disks.map((disk) => bitmapNames(disk.path));
    execFileSync('qemu-img', ['bitmap', '--remove', disks[1].path, bitmaps[1][0]]);
    writeDisk(disks[0].path, ['write -P 0x12 4M 1M']);
    const filesBefore = repositoryFiles();

    const failed = await sendenseRun([strict, '--db', ws.db]);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain(
      `the dirty bitmap '${bitmaps[1][0]}' of backup ${full.id} is missing from ${disks[1].path}`,
    );
    expect(failed.stderr).toContain("onMissingChain is 'fail'");
    expect(repositoryFiles()).toEqual(filesBefore);
    expect(bitmapNames(disks[0].path)).toEqual(bitmaps[0]);
    expect(bitmapNames(disks[1].path)).toEqual([]);
    expect(recordedProcesses(ws.db)).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);

    const lenient = writePlan(ws.dir, { name: 'first', vm: 'vm1', disks, repository: ws.repository, ports });
    const result = await sendenseRun([lenient, '--db', ws.db]);
    expectOk(result);
    expect(result.stderr).toMatch(/warning: .*is missing from .*d1\.qcow2: taking a full backup into a new chain/);
    const backups = (await listBackups(ws.db)).filter((backup) => backup.status === 'complete');
    const latest = backups.at(-1)!;
    expect(latest.type).toBe('full');
    expect(latest.chainId).not.toBe(full.chainId);
    for (const disk of disks) {
      const file = latest.disks.find((d) => d.diskKey === disk.key)!.file;
      expect(differenceBetween(file, disk.path), `disk ${disk.key}`).toBe('');
      // The old chain's bitmap is superseded; only the new chain's tracks the disk.
      expect(bitmapNames(disk.path)).toEqual([latest.disks.find((d) => d.diskKey === disk.key)!.changeId]);
    }
  });

  it('a disabled bitmap (stopped recording writes) is never built on: a warned full, exact', async () => {
    const disk = { key: 2000, path: createDisk(path.join(ws.dir, 'd0.qcow2'), 16 * MiB) };
    writeDisk(disk.path, ['write -P 0x61 0 1M']);
    const plan = writePlan(ws.dir, { name: 'disabled', vm: 'vm1', disks: [disk], repository: ws.repository, ports });
    expectOk(await sendenseRun([plan, '--db', ws.db]));
    const [bitmap] = bitmapNames(disk.path);
    execFileSync('qemu-img', ['bitmap', '--disable', disk.path, bitmap]);
    writeDisk(disk.path, ['write -P 0x62 4M 1M']);
    const result = await sendenseRun([plan, '--db', ws.db]);
    expectOk(result);
    expect(result.stderr).toMatch(
      new RegExp(
        `warning: the dirty bitmap '${bitmap}' on .*d0\\.qcow2 is disabled.*taking a full backup into a new chain`,
      ),
    );
    const latest = (await listBackups(ws.db)).at(-1)!;
    expect(latest.type).toBe('full');
    expect(differenceBetween(latest.disks[0].file, disk.path)).toBe('');
    expect(bitmapNames(disk.path)).toEqual([latest.disks[0].changeId]);
  });

  it('a qcow2 v2 (compat 0.10) disk cannot hold bitmaps: fulls work and the incremental plan says why', async () => {
    const v3 = { key: 2000, path: createDisk(path.join(ws.dir, 'v3.qcow2'), 16 * MiB) };
    const v2 = { key: 2001, path: path.join(ws.dir, 'v2.qcow2') };
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'compat=0.10', v2.path, String(16 * MiB)]);
    writeDisk(v2.path, ['write -P 0x71 0 1M']);
    const plan = writePlan(ws.dir, { name: 'v2', vm: 'vm1', disks: [v3, v2], repository: ws.repository, ports });
    expectOk(await sendenseRun([plan, '--db', ws.db]));
    writeDisk(v2.path, ['write -P 0x72 4M 1M']);
    const second = await sendenseRun([plan, '--db', ws.db]);
    expectOk(second);
    expect(second.stderr).toMatch(
      /warning: disk 2001 \(.*v2\.qcow2\) is a qcow2 v2 \(compat 0\.10\) image, which cannot store dirty bitmaps.*full backup into a new chain/,
    );
    const backups = await listBackups(ws.db);
    expect(backups.map((backup) => backup.type)).toEqual(['full', 'full']);
    const latest = backups[1];
    for (const disk of [v3, v2])
      expect(differenceBetween(latest.disks.find((d) => d.diskKey === disk.key)!.file, disk.path)).toBe('');
    expect(latest.disks.find((d) => d.diskKey === 2001)!.changeId).toBeNull();
    expect(bitmapNames(v3.path)).toEqual([latest.disks.find((d) => d.diskKey === 2000)!.changeId]);
  });

  it('retention keepChains 1 with maxChainLength 2: old chains go, the chain just built stays and restores exactly', async () => {
    const disk = { key: 2000, path: createDisk(path.join(ws.dir, 'd0.qcow2'), 16 * MiB) };
    const plan = writePlan(ws.dir, {
      name: 'short',
      vm: 'vm1',
      disks: [disk],
      repository: ws.repository,
      ports,
      incremental: { maxChainLength: 2 },
    });
    // writePlan has no retention key: add it.
    execFileSync('sh', ['-c', `printf 'retention:\\n  keepChains: 1\\n' >> ${plan}`]);
    const copyOf = new Map<string, string>();
    for (let point = 0; point < 5; point++) {
      writeDisk(disk.path, [`write -P 0x${(0x30 + point).toString(16)} ${point}M 512K`]);
      const copy = keepCopy(disk.path, path.join(ws.dir, `p${point}.qcow2`));
      expectOk(await sendenseRun([plan, '--db', ws.db]));
      const backups = await listBackups(ws.db);
      const latest = backups.at(-1)!;
      copyOf.set(latest.id, copy);
      expect(latest.type).toBe(point % 2 === 0 ? 'full' : 'incremental');
      // Only the current chain is left, and every backup in it restores exactly.
      expect(new Set(backups.map((backup) => backup.chainId))).toEqual(new Set([latest.chainId]));
      for (const backup of backups) {
        expect(
          differenceBetween(backup.disks[0].file, copyOf.get(backup.id)!),
          `point ${point}, backup ${backup.id}`,
        ).toBe('');
      }
      expect(bitmapNames(disk.path)).toEqual([latest.disks[0].changeId]);
    }
    expect(repositoryFiles()).toHaveLength(1);
  });

  it('a source disk that is itself an overlay: the full holds the backing data too', async () => {
    const base = createDisk(path.join(ws.dir, 'base.qcow2'), 16 * MiB);
    writeDisk(base, ['write -P 0x51 0 4M']);
    const overlay = path.join(ws.dir, 'overlay.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay]);
    writeDisk(overlay, ['write -P 0x52 1M 1M', 'write -z 3M 512K']);
    const plan = writePlan(ws.dir, {
      name: 'overlay',
      vm: 'vm1',
      disks: [{ key: 2000, path: overlay }],
      repository: ws.repository,
      ports,
    });
    expectOk(await sendenseRun([plan, '--db', ws.db]));
    writeDisk(overlay, ['write -z 0 64K', 'write -P 0x53 8M 1M']);
    const point2 = keepCopy(overlay, path.join(ws.dir, 'p2.qcow2'));
    expectOk(await sendenseRun([plan, '--db', ws.db]));
    const backups = await listBackups(ws.db);
    expect(backups.map((backup) => backup.type)).toEqual(['full', 'incremental']);
    // keepCopy copied the overlay file only: its backing file is still base.
    expect(differenceBetween(backups[1].disks[0].file, point2)).toBe('');
    expect(
      execFileSync('qemu-img', ['info', '--output=json', backups[0].disks[0].file], { encoding: 'utf8' }),
    ).not.toContain('backing-filename');
  });
});
