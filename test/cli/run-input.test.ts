// A run given a bad source or repository fails with one clear line naming it (exit 1, no stack),
// takes nothing it does not give back, and leaves the source and the repository as they were.

import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { leasedPorts } from '../support/process-tree.js';
import { asNobody, useBinForOtherUsers } from '../support/other-user-cli.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, writePlan } from '../support/sendense-cli.js';
import { bitmapNames, createDisk, portRangeForTestFile, sha256, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('cli-run-input-');
const packageCopy = useBinForOtherUsers();

function files(root: string): string[] {
  return existsSync(root) ? (readdirSync(root, { recursive: true }) as string[]).sort() : [];
}

// The run's last stderr line, and no stack anywhere.
function expectOneLineFailure(result: { exitCode: number; stderr: string }, message: string): void {
  expect(result.exitCode, result.stderr).toBe(1);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr).not.toContain('internal error');
  expect(result.stderr.trim().split('\n').at(-1)).toContain(message);
}

describe('a run with a bad source or repository', () => {
  it('an empty source disk is refused by name before anything is created', async () => {
    const empty = path.join(ws.dir, 'empty.raw');
    writeFileSync(empty, '');
    const repository = path.join(ws.dir, 'repo');
    const plan = writePlan(ws.dir, {
      name: 'empty-src',
      vm: 'empty-src',
      disks: [{ key: 2000, path: empty }],
      repository,
      ports,
    });

    const result = await sendenseRun([plan, '--db', ws.db]);

    expectOneLineFailure(
      result,
      `step resolve-chain, disk 2000: ${empty} is empty (virtual size 0 bytes): nothing to back up`,
    );
    expect(files(repository)).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);
  });

  it('a source that is a directory is refused by name', async () => {
    const folder = path.join(ws.dir, 'disk-folder');
    mkdirSync(folder);
    const repository = path.join(ws.dir, 'repo');
    const plan = writePlan(ws.dir, {
      name: 'dir-src',
      vm: 'dir-src',
      disks: [{ key: 2000, path: folder }],
      repository,
      ports,
    });

    const result = await sendenseRun([plan, '--db', ws.db]);

    expectOneLineFailure(result, `step resolve-chain, disk 2000: cannot read image ${folder}`);
    expect(files(repository)).toEqual([]);
  });

  it('a *.qcow2 source that is not a qcow2 image is refused (with format: raw it is taken as raw)', async () => {
    const fake = path.join(ws.dir, 'disk0.qcow2');
    writeFileSync(fake, 'this is a text file, not a disk image\n'.repeat(100));
    const repository = path.join(ws.dir, 'repo');
    const plan = writePlan(ws.dir, {
      name: 'fake-qcow2',
      vm: 'fake-qcow2',
      disks: [{ key: 2000, path: fake }],
      repository,
      ports,
    });

    const refused = await sendenseRun([plan, '--db', ws.db]);
    expectOneLineFailure(
      refused,
      `step resolve-chain, disk 2000: ${fake} is not a qcow2 image (qemu-img sees raw data); if it really is a raw disk, say format: raw`,
    );
    expect(files(repository)).toEqual([]);

    const asRaw = writePlan(ws.dir, {
      name: 'fake-qcow2',
      vm: 'fake-qcow2',
      disks: [{ key: 2000, path: fake, format: 'raw' }],
      repository,
      ports,
    });
    expect((await sendenseRun([asRaw, '--db', ws.db])).exitCode).toBe(0);
  });

  it('a repository path under a plain file fails on create-qcow2 naming the path; the source is untouched', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk0.qcow2'), 32 * MiB);
    writeDisk(disk, ['write -P 0x11 0 1M']);
    const before = sha256(disk);
    const repository = path.join(ws.dir, 'a-file', 'repo');
    writeFileSync(path.join(ws.dir, 'a-file'), 'not a directory');
    const plan = writePlan(ws.dir, {
      name: 'file-repo',
      vm: 'file-repo',
      disks: [{ key: 2000, path: disk }],
      repository,
      ports,
    });

    const result = await sendenseRun([plan, '--db', ws.db]);

    expectOneLineFailure(
      result,
      `step create-qcow2: repository ${repository} cannot be created: ${path.join(ws.dir, 'a-file')} is not a directory`,
    );
    expect(sha256(disk)).toBe(before);
    expect(bitmapNames(disk)).toEqual([]);
    expect(leasedPorts(ws.db)).toEqual([]);
    expect((await listBackups(ws.db)).map((backup) => backup.status)).toEqual(['failed']);
  });

  it.skipIf(process.getuid?.() !== 0)(
    'a repository this user may not write to fails naming it; nothing is added',
    async () => {
      // Run as nobody (root may write anywhere): the disk and the state are nobody's, the repository is not.
      const home = path.join(ws.dir, 'nobody');
      mkdirSync(home);
      chmodSync(ws.dir, 0o755);
      const disk = createDisk(path.join(home, 'disk0.qcow2'), 32 * MiB);
      writeDisk(disk, ['write -P 0x12 0 1M']);
      const repository = path.join(ws.dir, 'root-repo');
      mkdirSync(repository, { mode: 0o755 });
      const plan = writePlan(home, {
        name: 'ro-repo',
        vm: 'ro-repo',
        disks: [{ key: 2000, path: disk }],
        repository,
        ports,
      });
      const nobodyDb = path.join(home, 'state.db');
      for (const file of [home, disk, plan]) chownSync(file, 65534, 65534);
      copyFileSync(disk, path.join(ws.dir, 'disk0.before'));

      const run = await execa('setpriv', asNobody([process.execPath, packageCopy.bin, plan, '--db', nobodyDb]), {
        reject: false,
        env: { CI: '1' },
        // The checkout may be a directory nobody cannot enter.
        cwd: '/',
      });

      expectOneLineFailure(
        { exitCode: run.exitCode ?? -1, stderr: String(run.stderr) },
        `step create-qcow2: repository ${repository} is not writable by this user`,
      );
      expect(files(repository)).toEqual([]);
      expect(sha256(disk)).toBe(sha256(path.join(ws.dir, 'disk0.before')));
      expect(bitmapNames(disk)).toEqual([]);
      expect(leasedPorts(nobodyDb)).toEqual([]);
    },
  );
});
