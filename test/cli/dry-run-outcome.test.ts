// `sendense-run PLAN --dry-run` exits as the run would (docs/commands.md): 0 for a plan that would
// run, 1 when a step says the run would FAIL — a repository on a read-only filesystem, a source
// image a running VM holds locked — and both the dry run and the run say why in one line.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, portRangeForTestFile } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('cli-dry-outcome-');
const asRoot = process.getuid?.() === 0;

function mount(argv: readonly string[]): void {
  const result = spawnSync('mount', argv, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`mount ${argv.join(' ')}: ${result.stderr}`);
}

describe('--dry-run exits as the run would', () => {
  it('a plan that would run exits 0; one whose chain would fail exits 1', async () => {
    const disks = [{ key: 2000, path: createDisk(path.join(ws.dir, 'd.qcow2'), 8 * MiB) }];
    const good = writePlan(ws.dir, { name: 'good', vm: 'vm1', disks, repository: ws.repository, ports });
    const dry = await sendenseRun([good, '--db', ws.db, '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);

    const failing = writePlan(ws.dir, {
      name: 'failing',
      vm: 'vm1',
      disks: [{ key: 2000, path: path.join(ws.dir, 'missing.qcow2') }],
      repository: ws.repository,
      ports,
    });
    const predicted = await sendenseRun([failing, '--db', ws.db, '--dry-run', '--json']);
    expect(predicted.exitCode, predicted.stderr).toBe(1);
    const report = JSON.parse(predicted.stdout) as { wouldFail: boolean; steps: { step: string; fails?: boolean }[] };
    expect(report.wouldFail).toBe(true);
    expect(report.steps.filter((step) => step.fails).map((step) => step.step)).toEqual(['resolve-chain']);
  });

  it.skipIf(!asRoot)(
    'a repository on a read-only filesystem: the dry run says create-qcow2 would fail, the run says read-only',
    async () => {
      const mountPoint = path.join(ws.dir, 'ro');
      mkdirSync(mountPoint);
      mount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
      try {
        const repository = path.join(mountPoint, 'repository');
        mkdirSync(repository);
        mount(['-o', 'remount,ro', mountPoint]);
        const disks = [{ key: 2000, path: createDisk(path.join(ws.dir, 'd.qcow2'), 8 * MiB) }];
        const plan = writePlan(ws.dir, { name: 'ro', vm: 'vm1', disks, repository, ports });
        const why = `repository ${repository} is read-only (${repository} is on a read-only filesystem)`;

        const dry = await sendenseRun([plan, '--db', ws.db, '--dry-run']);
        expect(dry.exitCode, dry.stdout).toBe(1);
        expect(dry.stdout).toMatch(new RegExp(`create-qcow2\\s+would FAIL: ${why.replace(/[()]/g, '\\$&')}`));

        const run = await sendenseRun([plan, '--db', ws.db]);
        expect(run.exitCode).toBe(1);
        expect(run.stderr).toContain(`step create-qcow2: ${why}`);
        expect(run.stderr).not.toContain('ENOENT');
      } finally {
        spawnSync('umount', [mountPoint]);
      }
    },
  );

  it('a source image another process holds locked: in use by a running VM, use a libvirt source', async () => {
    const image = createDisk(path.join(ws.dir, 'vm-disk.qcow2'), 8 * MiB);
    // qemu-nbd without --shared/-r takes QEMU's write lock, as a running VM does.
    // -t: it stays up whoever connects and goes (it would exit after its first client).
    const socket = path.join(ws.dir, 'nbd.sock');
    const holder = spawn('qemu-nbd', ['-t', '-f', 'qcow2', '-k', socket, image], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    try {
      await waitForLock(image, socket, holder);
      const plan = writePlan(ws.dir, {
        name: 'locked',
        vm: 'vm1',
        disks: [{ key: 2000, path: image }],
        repository: ws.repository,
        ports,
      });
      const why = `image ${image} is in use by another process (locked), by a running VM most likely: back up a running VM through its domain (source.type: libvirt, docs/how-it-works.md#libvirt-domains)`;

      const dry = await sendenseRun([plan, '--db', ws.db, '--dry-run']);
      expect(dry.exitCode, `${dry.stdout}\n${dry.stderr}\nqemu-nbd exit code: ${holder.exitCode}`).toBe(1);
      expect(dry.stdout).toContain(`resolve-chain      would FAIL: step resolve-chain, disk 2000: ${why}`);

      const run = await sendenseRun([plan, '--db', ws.db]);
      expect(run.exitCode).toBe(1);
      expect(run.stderr).toContain(why);
    } finally {
      holder.kill('SIGTERM');
    }
  });

  it('keep-* retention: the dry run lists what the rules keep and merge once the new backup is there', async () => {
    const disks = [{ key: 2000, path: createDisk(path.join(ws.dir, 'd.qcow2'), 8 * MiB) }];
    const plan = writePlan(ws.dir, {
      name: 'keep',
      vm: 'vm1',
      disks,
      repository: ws.repository,
      ports,
      retention: { keepLast: 1 },
    });
    expect((await sendenseRun([plan, '--db', ws.db])).exitCode).toBe(0);
    const dry = await sendenseRun([plan, '--db', ws.db, '--dry-run']);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).not.toContain('undefined');
    expect(dry.stdout).toMatch(
      /retention\s+keep-\* rules \(keepLast 1\), once this backup is complete:\n\s+\d{8}-\d{6}-[0-9a-f]{4} \(full, [^)]+\): merge into <new-backup-id> \(<new-backup-id> becomes the full\)\n\s+<new-backup-id> \(incremental, [^)]+\): keep \(last 1\)/,
    );
  });
});

// Until qemu-nbd listens on its socket: it opened (and locked) the image first. Not by polling
// qemu-img info: its own brief lock could be what makes qemu-nbd's open fail.
async function waitForLock(image: string, socket: string, holder: ChildProcess): Promise<void> {
  for (let tries = 0; tries < 400 && holder.exitCode === null; tries++) {
    if (existsSync(socket)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`qemu-nbd did not lock ${image} (exit code ${holder.exitCode})`);
}
