// A copy killed with kill -9 (docs/copies.md#crash-safety): with a file in place but not its
// manifest, and with half a file sent. doctor removes the partial file the killed run recorded on
// the copy's host (nothing stays recorded); the next copy keeps the file already in place (its
// sha256 is the hub file's) and sends the rest; every point on the copy is then exact.

import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupsOf, differenceFromSource, type PointChain } from '../retention/point-chain.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, startSendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { filesUnder, rows, runCopy, useCopySshd, writeCopyPlan } from './copy-support.js';
import { killAtEnv, type CrashPoint } from '../../src/crash-points.js';

const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-copy-crash-');
const node = useCopySshd();
const MiB = 1024 * 1024;

// Two points of a VM with a small disk and a large one: half of the large file is well beyond what
// an SSH channel holds in flight, so a copy killed there has its partial file on the copy's host.
async function twoPoints(): Promise<PointChain> {
  const disks = [
    { key: 2000, path: createDisk(path.join(ws.dir, 'small.qcow2'), 16 * MiB) },
    { key: 2001, path: createDisk(path.join(ws.dir, 'large.qcow2'), 64 * MiB) },
  ];
  const chain: PointChain = {
    vm: 'crashvm',
    dir: ws.dir,
    db: ws.db,
    repository: ws.repository,
    ports,
    disks,
    ids: [],
    copies: {},
  };
  const plan = writePlan(ws.dir, { name: 'crash-backup', vm: chain.vm, disks, repository: ws.repository, ports });
  for (let round = 0; round < 2; round++) {
    writeDisk(disks[0]!.path, [`write -P 0x${(0x21 + round).toString(16)} ${round}M 2M`]);
    writeDisk(disks[1]!.path, round === 0 ? ['write -P 0x31 0 40M'] : ['write -P 0x32 10M 1M']);
    const result = await sendenseRun([plan, '--db', ws.db]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const id = (await backupsOf(chain)).at(-1)!.id;
    chain.ids.push(id);
    chain.copies[id] = Object.fromEntries(
      disks.map((disk) => [disk.key, keepCopy(disk.path, path.join(ws.dir, `p${round}-${disk.key}.qcow2`))]),
    );
  }
  return chain;
}

async function killedAt(plan: string, seam: CrashPoint): Promise<void> {
  const run = startSendenseRun([plan, '--db', ws.db], killAtEnv(seam));
  const ended = await run.exited;
  expect(ended.signal, `${ended.stdout}\n${ended.stderr}`).toBe('SIGKILL');
}

// doctor after a kill: no partial file left on the copy, nothing of the copy recorded.
async function doctor(offsite: string): Promise<string> {
  const result = await sendenseRun(['doctor', '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  expect(filesUnder(offsite).filter((file) => file.endsWith('.partial'))).toEqual([]);
  expect(rows(ws.db, 'node_resources')).toEqual([]);
  return result.stdout;
}

describe('a copy killed with kill -9', () => {
  it('doctor removes its partial file; the next copy keeps what is in place, sends the rest, and every point is exact', async () => {
    const chain = await twoPoints();
    const offsite = path.join(ws.dir, 'offsite');
    const plan = writeCopyPlan(ws.dir, node.sshd, { repository: ws.repository, to: offsite, vm: chain.vm });
    const backups = await backupsOf(chain);
    const firstFile = backups[0]!.disks[0]!;
    const total = backups.flatMap((backup) => backup.disks).reduce((sum, disk) => sum + statSync(disk.file).size, 0);

    // Killed with the first point's first file in place, no manifest yet (the next file on its way).
    await killedAt(plan, 'copy.file-placed');
    expect(filesUnder(offsite).filter((file) => file.endsWith('.qcow2'))).toEqual([
      `${chain.vm}/disk-${firstFile.diskKey}/${backups[0]!.id}.qcow2`,
    ]);
    expect(filesUnder(offsite).filter((file) => file.endsWith('.json'))).toEqual([]);
    await doctor(offsite);

    // Killed again with half of the next (large) file sent: its partial file is recorded (the
    // script on the copy's host may have removed it already, seeing the bytes stop short).
    await killedAt(plan, 'copy.half-sent');
    expect(filesUnder(offsite).filter((file) => file.endsWith('.json'))).toEqual([]);
    expect(rows(ws.db, 'node_resources')).toMatchObject([
      { kind: 'copy-partial', name: expect.stringMatching(/disk-2001\/.*\.qcow2\.partial$/) },
    ]);
    expect(await doctor(offsite)).toMatch(/partial file .* of a copy .*remove it: done/);

    // The file in place is kept (not sent again), everything else is sent.
    const resumed = await runCopy(plan, ws.db);
    expect(resumed).toMatchObject({ pointsSent: 2, filesKept: 1, filesSent: 3 });
    expect(resumed.bytes).toBeGreaterThanOrEqual(total - statSync(firstFile.file).size);
    expect(resumed.bytes).toBeLessThan(total - statSync(firstFile.file).size + 64 * 1024);
    for (const backup of backups) {
      for (const disk of backup.disks) {
        const copied = path.join(offsite, chain.vm, `disk-${disk.diskKey}`, `${backup.id}.qcow2`);
        expect(
          differenceFromSource(copied, chain.copies[backup.id]![disk.diskKey]!),
          `${backup.id} disk ${disk.diskKey}`,
        ).toBe('');
      }
    }
    expect(await runCopy(plan, ws.db)).toMatchObject({ pointsSent: 0, pointsThere: 2, bytes: 0 });
  }, 180_000);
});
