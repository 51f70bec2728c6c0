// kill -9 of a backup run in its retention step while it removes the newest point of an older
// chain (its files deleted, its record not yet gone), as the campaign's seed 57 did: after doctor,
// every point the store calls complete reads exactly as the source did, verify passes, the removed
// point's files are gone and the next backup is exact (docs/how-it-works.md#retention).

import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { recordedProcesses, tableRows } from '../support/process-tree.js';
import { killIfAlive } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun } from '../support/sendense-cli.js';
import { createDisk, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { backupsOf, differenceFromSource, type PointChain } from './point-chain.js';
import { killAtEnv } from '../../src/crash-points.js';

const ws = useRunWorkspace('remove-crash-', { per: 'file' });
const ports = portRangeForTestFile();
const MiB = 1024 * 1024;

// A new full every 2 points, the newest 2 kept: the 4th run removes the older chain's last point.
function writePlan(chain: PointChain): string {
  const doc = {
    version: 1,
    kind: 'incremental',
    name: `${chain.vm}-plan`,
    timezone: 'UTC',
    vm: {
      name: chain.vm,
      source: { type: 'qemu', disks: chain.disks.map((disk) => ({ key: disk.key, path: disk.path })) },
    },
    repository: { path: chain.repository },
    nbd: { ports: `${chain.ports[0]}-${chain.ports[1]}` },
    incremental: { maxChainLength: 2 },
    retention: { keepLast: 2 },
  };
  const file = path.join(chain.dir, 'plan.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

// One backup after a change of its own; the source kept as that point must read.
async function backUp(chain: PointChain, plan: string, i: number, env: Record<string, string> = {}): Promise<number> {
  writeDisk(chain.disks[0]!.path, [`write -P 0x${(0x40 + i).toString(16)} ${i * 3}M 1M`, `write -z ${i * 3 + 1}M 64k`]);
  const copy = keepCopy(chain.disks[0]!.path, path.join(chain.dir, `source-${i}.qcow2`));
  const result = await sendenseRun([plan, '--db', ws.db, '--json'], env);
  if (result.exitCode === 0) {
    const id = (await backupsOf(chain)).at(-1)!.id;
    chain.ids.push(id);
    chain.copies[id] = { [chain.disks[0]!.key]: copy };
  }
  return result.exitCode;
}

describe('a point removal killed in a backup run', () => {
  it('leaves no complete point without its file after doctor', { timeout: 600_000 }, async () => {
    const chain: PointChain = {
      vm: 'vmr',
      dir: ws.dir,
      db: ws.db,
      repository: ws.repository,
      ports,
      disks: [{ key: 2000, path: createDisk(path.join(ws.dir, 'disk0.qcow2'), 16 * MiB) }],
      ids: [],
      copies: {},
    };
    const plan = writePlan(chain);
    for (let i = 0; i < 3; i++) expect(await backUp(chain, plan, i)).toBe(0);
    // Runs 0-1 a chain, run 2 a new full (point 0 merged into 1): the 4th run removes point 1.
    const [, going] = chain.ids;
    expect((await backupsOf(chain)).map((backup) => backup.id)).toEqual(chain.ids.slice(1));

    // The next backup's point is complete before its retention step: its source is that copy.
    writeDisk(chain.disks[0]!.path, ['write -P 0x77 12M 1M']);
    const copy = keepCopy(chain.disks[0]!.path, path.join(ws.dir, 'source-3.qcow2'));
    const killed = await sendenseRun([plan, '--db', ws.db, '--json'], killAtEnv('prune.removed'));
    expect(killed.exitCode, `${killed.stdout}\n${killed.stderr}`).toBe(-1);
    const newest = (await backupsOf(chain)).at(-1)!.id;
    chain.copies[newest] = { 2000: copy };

    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toContain(
      `unfinished removed point file ${path.join(ws.repository, chain.vm, 'disk-2000', `${going}.qcow2`)}`,
    );
    for (const record of recordedProcesses(ws.db)) killIfAlive(record);
    expect(tableRows(ws.db, 'run_files')).toEqual([]);

    // Every complete point reads as the source did; the removed one is gone, files and record.
    const left = await backupsOf(chain);
    for (const backup of left.filter((b) => b.status === 'complete')) {
      for (const disk of backup.disks)
        expect(
          differenceFromSource(disk.file, chain.copies[backup.id]?.[disk.diskKey] ?? ''),
          `point ${backup.id}`,
        ).toBe('');
    }
    expect(left.map((backup) => backup.id)).not.toContain(going);
    expect(left.filter((b) => b.status === 'complete').map((b) => b.id)).toEqual(chain.ids.slice(2).concat(newest));
    const files = readdirSync(path.join(ws.repository, chain.vm, 'disk-2000')).sort();
    expect(files).toEqual(left.flatMap((b) => [`${b.id}.json`, `${b.id}.qcow2`]).sort());
    const verified = await sendenseRun(['verify', '--vm', chain.vm, '--db', ws.db]);
    expect(verified.exitCode, `${verified.stdout}\n${verified.stderr}`).toBe(0);
    expect(verified.stdout).toContain('no damage found');

    // The next run works and is exact.
    chain.ids.push(newest);
    expect(await backUp(chain, plan, 4)).toBe(0);
    const latest = (await backupsOf(chain)).at(-1)!;
    expect(differenceFromSource(latest.disks[0]!.file, chain.copies[latest.id]![2000]!)).toBe('');
  });
});
