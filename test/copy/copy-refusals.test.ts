// What a copy refuses, in one line and with nothing written (docs/copies.md#what-a-copy-refuses):
// a target path that is not a repository, another repository, a copy of another repository, a
// host that does not answer; a full disk on the copy's side (a small tmpfs as the target) fails
// in one line with the partial file removed and nothing marked complete, and the next run with
// space succeeds. A dry run contacts nothing.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useRunWorkspace } from '../support/run-workspace.js';
import { sendenseRun, writePlan } from '../support/sendense-cli.js';
import { freePort } from '../support/free-port.js';
import { createDisk, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';
import { filesUnder, rows, runCopy, useCopySshd, writeCopyPlan } from './copy-support.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('sendense-copy-refusals-');
const node = useCopySshd();

// One backup of a VM with `data` MiB written into `repository`.
async function backUp(repository: string, vm: string, data = 4): Promise<void> {
  const disk = createDisk(path.join(ws.dir, `${vm}.qcow2`), 64 * MiB);
  writeDisk(disk, [`write -P 0x5a 0 ${data}M`]);
  const plan = writePlan(ws.dir, { name: `${vm}-backup`, vm, disks: [{ key: 2000, path: disk }], repository, ports });
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
}

// Every file below dir with its content: "nothing was written" compares two of these.
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    filesUnder(dir).map((file) => [file, readFileSync(path.join(dir, file)).toString('base64')]),
  );
}

async function refused(plan: string, pattern: RegExp): Promise<void> {
  const result = await sendenseRun([plan, '--db', ws.db]);
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(1);
  const lines = result.stderr.split('\n').filter((line) => pattern.test(line));
  expect(lines, result.stderr).toHaveLength(1);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('copy refusals', () => {
  it('a directory that is not a repository, a repository of its own, a copy of another, a file: refused, nothing written', async () => {
    await backUp(ws.repository, 'vma');
    const other = path.join(ws.dir, 'other-repository');
    await backUp(other, 'vmb');

    const notRepository = path.join(ws.dir, 'not-a-repository');
    mkdirSync(notRepository);
    writeFileSync(path.join(notRepository, 'photo.jpg'), 'not a backup');
    const before = snapshot(notRepository);
    await refused(
      writeCopyPlan(ws.dir, node.sshd, { repository: ws.repository, to: notRepository }),
      /refused: it is not empty and is not a repository.*nothing was written/,
    );
    expect(snapshot(notRepository)).toEqual(before);

    const otherBefore = snapshot(other);
    await refused(
      writeCopyPlan(ws.dir, node.sshd, { repository: ws.repository, to: other }),
      /refused: it is a repository of its own, not a copy/,
    );
    expect(snapshot(other)).toEqual(otherBefore);

    // A copy of the other repository is not this one's.
    const copyOfOther = path.join(ws.dir, 'copy-of-other');
    await runCopy(
      writeCopyPlan(ws.dir, node.sshd, { name: 'other-offsite', repository: other, to: copyOfOther }),
      ws.db,
    );
    const copyBefore = snapshot(copyOfOther);
    await refused(
      writeCopyPlan(ws.dir, node.sshd, { repository: ws.repository, to: copyOfOther }),
      new RegExp(`refused: it is a copy of another repository \\(${other} `),
    );
    expect(snapshot(copyOfOther)).toEqual(copyBefore);

    const file = path.join(ws.dir, 'a-file');
    writeFileSync(file, 'x');
    await refused(
      writeCopyPlan(ws.dir, node.sshd, { repository: ws.repository, to: file }),
      /refused: it exists and is not a directory/,
    );
    expect(readFileSync(file, 'utf8')).toBe('x');

    // Inside the repository (a plan check cannot see through a host name other than this host's).
    const inside = path.join(ws.repository, 'vma', 'offsite');
    await refused(
      writeCopyPlan(ws.dir, node.sshd, { repository: other, to: inside }),
      /refused: it is inside the repository/,
    );
    expect(filesUnder(path.join(ws.repository, 'vma')).some((entry) => entry.startsWith('offsite'))).toBe(false);
    expect(rows(ws.db, 'node_resources')).toEqual([]);
  }, 120_000);

  it('a host that does not answer: one line, nothing written', async () => {
    await backUp(ws.repository, 'vma');
    const offsite = path.join(ws.dir, 'offsite');
    await refused(
      writeCopyPlan(ws.dir, node.sshd, { repository: ws.repository, to: offsite, port: await freePort() }),
      /connection refused/,
    );
    expect(filesUnder(offsite)).toEqual([]);
  });

  it('a full disk on the copy: one line, the partial file removed, nothing complete; with space the next run succeeds', async () => {
    await backUp(ws.repository, 'vma', 12);
    const mount = path.join(ws.dir, 'small');
    mkdirSync(mount);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6M,mode=0700', 'tmpfs', mount]);
    try {
      const offsite = path.join(mount, 'offsite');
      const plan = writeCopyPlan(ws.dir, node.sshd, { repository: ws.repository, to: offsite });
      await refused(plan, /no space left on device/);
      expect(
        filesUnder(offsite).filter(
          (entry) => entry.endsWith('.partial') || entry.endsWith('.json') || entry.endsWith('.qcow2'),
        ),
      ).toEqual([]);
      expect(rows(ws.db, 'node_resources')).toEqual([]);
      execFileSync('mount', ['-o', 'remount,size=64M', mount]);
      expect(await runCopy(plan, ws.db)).toMatchObject({ pointsSent: 1, filesSent: 1 });
    } finally {
      execFileSync('umount', ['-l', mount]);
      rmdirSync(mount);
    }
  });

  it('a dry run says what it would do and contacts nothing', async () => {
    await backUp(ws.repository, 'vma');
    const offsite = path.join(ws.dir, 'offsite');
    const result = await sendenseRun([
      writeCopyPlan(ws.dir, node.sshd, { repository: ws.repository, to: offsite, vm: 'vma' }),
      '--db',
      ws.db,
      '--dry-run',
    ]);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/open-copy +check .*not contacted in a dry run/);
    expect(result.stdout).toMatch(/send-points +vma: 1 complete point on the hub/);
    expect(filesUnder(offsite)).toEqual([]);
  });
});
