// A full backup of image files on the hub's own host is copied by qemu-img itself, straight into the
// new backup files, with the digests taken beside it (docs/how-it-works.md#a-local-full-backup):
// no qemu-nbd on the hub, and what is stored verifies and restores to the source's bytes. A source
// qemu-img can copy but the file reader cannot read straight goes over NBD as before. qemu-img dies
// with the node transfer that started it, even a stopped one, and a kill -9 of the hub mid-copy
// leaves nothing doctor does not clear. (The incrementals after such a full, over NBD with the
// bitmap, are test/engine/backup-chain.test.ts's.)

import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { writeRestorePlan } from '../restore/restore-plan.js';
import { commandLine, commandLinesDuring, descendantPids } from '../support/process-tree.js';
import { NotedProcesses, waitForProcessGone } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import {
  listBackups,
  parseEvents,
  sendenseRun,
  startSendenseRun,
  stoppedQemuNbdPids,
  writePlan,
  type PlanDisk,
  type RunningCli,
} from '../support/sendense-cli.js';
import { createDisk, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('local-full-');
const noted = new NotedProcesses();
afterEach(() => noted.killAll());

let restores = 0;

// Restores the latest point into new files; each must show the kept copy's guest bytes.
async function restoreAll(vm: string, disks: readonly PlanDisk[], copies: ReadonlyMap<number, string>): Promise<void> {
  restores += 1;
  const restored = path.join(ws.dir, `restored-${restores}-{key}.qcow2`);
  const plan = writeRestorePlan(ws.dir, {
    name: `restore-${restores}`,
    vm,
    repository: ws.repository,
    ports,
    point: 'latest',
    target: { type: 'file', path: restored, format: 'qcow2' },
  });
  const restore = await sendenseRun([plan, '--db', ws.db]);
  expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
  for (const disk of disks) {
    const compare = spawnSync(
      'qemu-img',
      [
        'compare',
        '-f',
        disk.format ?? 'qcow2',
        '-F',
        'qcow2',
        copies.get(disk.key)!,
        restored.replace('{key}', String(disk.key)),
      ],
      { encoding: 'utf8' },
    );
    expect(`${compare.stdout}${compare.stderr}`.trim(), `disk ${disk.key}`).toBe('Images are identical.');
  }
}

function transferSummary(stdout: string): string {
  const done = parseEvents(stdout).find((event) => event.type === 'step-done' && event.step === 'transfer');
  return String((done as { summary?: unknown } | undefined)?.summary ?? '');
}

// The qemu-img convert a run's node transfer started, once it runs: [its pid, the transfer's pid].
async function convertOf(run: RunningCli): Promise<[number, number]> {
  for (;;) {
    for (const pid of descendantPids(run.pid)) {
      const argv = commandLine(pid);
      if (argv[0]?.endsWith('qemu-img') && argv[1] === 'convert') {
        const parent = descendantPids(run.pid).find((candidate) => descendantPids(candidate).includes(pid));
        if (parent !== undefined) return [pid, parent];
      }
    }
    const ended = await Promise.race([
      run.exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 2)),
    ]);
    if (ended) throw new Error(`the run ended before its qemu-img convert was seen:\n${(await run.exited).stdout}`);
  }
}

// The backup files of a VM's disk 2000 (its folder goes with its last file).
function backupFiles(vm: string): string[] {
  const dir = path.join(ws.repository, vm, 'disk-2000');
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith('.qcow2')) : [];
}

// A full of a VM whose one disk is big enough that its copy is still under way when the test
// finds its qemu-img, which is then stopped (SIGSTOP): it would never end by itself, only by a kill.
async function stoppedCopy(vm: string) {
  const disk = createDisk(path.join(ws.dir, `${vm}.qcow2`), 1024 * MiB);
  writeDisk(disk, ['write -P 0x3c 0 384M', 'write -P 0x5d 512M 128M']);
  const plan = writePlan(ws.dir, {
    name: `${vm}-nightly`,
    vm,
    disks: [{ key: 2000, path: disk }],
    repository: ws.repository,
    ports,
  });
  // Its temp directories in the workspace: a transfer killed here leaves its own (runners/README.md).
  const tmp = path.join(ws.dir, 'tmp');
  mkdirSync(tmp, { mode: 0o700 });
  const run = startSendenseRun([plan, '--db', ws.db], { TMPDIR: tmp });
  noted.add(run.pid);
  const [convert, transfer] = await convertOf(run);
  noted.add(convert);
  noted.add(transfer);
  process.kill(convert, 'SIGSTOP');
  return { disk, plan, run, convert, transfer };
}

describe('a full backup of image files on this host', () => {
  it('is copied by qemu-img with no qemu-nbd on the hub; it verifies, and qcow2 and raw disks restore exactly', async () => {
    const qcow2 = createDisk(path.join(ws.dir, 'd0.qcow2'), 64 * MiB);
    // Data, zero clusters, allocated zeroes, data up to the disk's end.
    writeDisk(qcow2, [
      'write -P 0x11 0 3M',
      'write -z 4M 2M',
      'write -P 0 8M 1M',
      'write -P 0x22 9M 300K',
      'write -P 0x33 63M 1M',
    ]);
    const raw = createDisk(path.join(ws.dir, 'd1.raw'), 32 * MiB, 'raw');
    writeDisk(raw, ['write -P 0x44 1M 5M', 'write -P 0x55 31M 1M'], 'raw');
    const disks: PlanDisk[] = [
      { key: 2000, path: qcow2 },
      { key: 2001, path: raw, format: 'raw' },
    ];
    const plan = writePlan(ws.dir, { name: 'local-nightly', vm: 'vml', disks, repository: ws.repository, ports });

    const running = sendenseRun([plan, '--db', ws.db, '--json']);
    const seen = await commandLinesDuring(running);
    const run = await running;
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(transferSummary(run.stdout)).toMatch(/^2 disks, .* \(copied by qemu-img convert\)$/);
    expect(seen.filter((line) => /qemu-nbd/.test(line) && line.includes(ws.repository))).toEqual([]);

    const verify = await sendenseRun(['verify', '--db', ws.db]);
    expect(verify.exitCode, `${verify.stdout}\n${verify.stderr}`).toBe(0);
    expect(verify.stdout).toMatch(/disk 2000: ok \(\S+ MiB read, every digest matches\)/);
    expect(verify.stdout).toMatch(/disk 2001: ok \(\S+ MiB read, every digest matches\)/);

    const copies = new Map(disks.map((disk) => [disk.key, keepCopy(disk.path, path.join(ws.dir, `copy-${disk.key}`))]));
    await restoreAll('vml', disks, copies);
  });

  it('of 12 disks at once (their digest reads sharing a few buffers): every disk verifies against its own bytes', async () => {
    const disks: PlanDisk[] = Array.from({ length: 12 }, (_, index) => {
      const file = createDisk(path.join(ws.dir, `many-${index}.qcow2`), 16 * MiB);
      // Each disk its own bytes, in 2 MiB pieces unlike any other disk's: a digest of another's read fails verify.
      writeDisk(
        file,
        [0, 1, 2, 3, 4, 5].map((piece) => `write -P ${index * 16 + piece + 1} ${piece * 2}M 2M`),
      );
      return { key: 2000 + index, path: file };
    });
    const plan = writePlan(ws.dir, { name: 'many-nightly', vm: 'vmm', disks, repository: ws.repository, ports });
    const run = await sendenseRun([plan, '--db', ws.db, '--json']);
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(transferSummary(run.stdout)).toMatch(/^12 disks, .* \(copied by qemu-img convert\)$/);

    const verify = await sendenseRun(['verify', '--db', ws.db, '--vm', 'vmm']);
    expect(verify.exitCode, `${verify.stdout}\n${verify.stderr}`).toBe(0);
    expect(verify.stdout.match(/disk 20\d\d: ok \(\S+ MiB read, every digest matches\)/g)).toHaveLength(12);
  });

  it('goes over NBD when the source is not readable straight from its file (a backing file), and restores exactly', async () => {
    const base = createDisk(path.join(ws.dir, 'base.qcow2'), 32 * MiB);
    writeDisk(base, ['write -P 0x21 0 4M']);
    const overlay = path.join(ws.dir, 'overlay.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay]);
    writeDisk(overlay, ['write -P 0x42 2M 4M']);
    const disks: PlanDisk[] = [{ key: 2000, path: overlay }];
    const plan = writePlan(ws.dir, { name: 'overlay-nightly', vm: 'vmo', disks, repository: ws.repository, ports });
    const run = await sendenseRun([plan, '--db', ws.db, '--json']);
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(transferSummary(run.stdout)).toMatch(/^1 disk, 6\.0 MiB$/);
    // The hub saw the backing file in its header: its own qemu-nbd served the new file, as for any NBD copy.
    expect(stoppedQemuNbdPids(run.stdout)).toHaveLength(1);
    await restoreAll('vmo', disks, new Map([[2000, keepCopy(overlay, path.join(ws.dir, 'copy-overlay'))]]));
  });

  it('ends its qemu-img with the node transfer, even a stopped one: the run fails, its file is gone, the next run restores exactly', async () => {
    const { disk, plan, run, convert, transfer } = await stoppedCopy('vmb');
    process.kill(transfer, 'SIGKILL');
    expect(await waitForProcessGone(convert), 'qemu-img convert outlived the node transfer').toBe(true);
    const ended = await run.exited;
    expect(ended.exitCode, ended.stdout).toBe(1);
    expect((await listBackups(ws.db, 'vmb')).map((backup) => backup.status)).toEqual(['failed']);
    expect(backupFiles('vmb')).toEqual([]);

    const again = await sendenseRun([plan, '--db', ws.db]);
    expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
    await restoreAll(
      'vmb',
      [{ key: 2000, path: disk }],
      new Map([[2000, keepCopy(disk, path.join(ws.dir, 'copy-big'))]]),
    );
  });

  it('after a kill -9 of the hub mid-copy, no qemu-img is left, doctor clears the run, and the next run restores exactly', async () => {
    const { disk, plan, run, convert, transfer } = await stoppedCopy('vmk');
    process.kill(run.pid, 'SIGKILL');
    await run.exited;
    // The hub's death closes the transfer's stdin: it stops its qemu-img and ends.
    expect(await waitForProcessGone(transfer), 'the node transfer outlived the hub').toBe(true);
    expect(await waitForProcessGone(convert), 'qemu-img convert outlived the hub').toBe(true);

    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(backupFiles('vmk')).toEqual([]);
    const again = await sendenseRun(['doctor', '--db', ws.db]);
    expect(again.stdout, 'a second doctor finds nothing').toContain('nothing left behind');

    const next = await sendenseRun([plan, '--db', ws.db]);
    expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
    await restoreAll(
      'vmk',
      [{ key: 2000, path: disk }],
      new Map([[2000, keepCopy(disk, path.join(ws.dir, 'copy-big'))]]),
    );
  });
});
