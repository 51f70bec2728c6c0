// `sendense-run mount`: a point's filesystems read-only under DIR through FUSE until SIGTERM,
// unmounted on exit; the mount is recorded so that `doctor` unmounts what a killed one left.

import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SqliteDatabase as Database } from '../../src/store/sqlite-driver.js';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isMountPoint } from '../../src/files/fuse-mount.js';
import { isProcessAlive } from '../../src/process/process-identity.js';
import { killIfAlive } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { BIN } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { backUpGuest, readTree, repositoryFingerprint, sendenseFiles, type BackedUpGuest } from './guest-disk.js';

const ws = useRunWorkspace('files-mount-', { per: 'file' });
let guest: BackedUpGuest;
const started: ChildProcessWithoutNullStreams[] = [];
const mountDirs: string[] = [];

beforeAll(async () => {
  guest = await backUpGuest(ws.dir, 'mvm', portRangeForTestFile(10));
}, 600_000);

// Whatever a failed test left: its mounts detached, the commands it started and their FUSE servers stopped.
afterEach(() => {
  for (const row of mountRows()) killIfAlive({ pid: row.server_pid, startTicks: row.server_start_ticks });
  for (const dir of mountDirs.splice(0)) if (isMountPoint(dir)) spawnSync('fusermount', ['-u', '-z', dir]);
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

interface MountRow {
  dir: string;
  server_pid: number;
  server_start_ticks: number;
  owner_pid: number;
}

function mountRows(): MountRow[] {
  if (!guest) return [];
  const db = new Database(guest.db, { readonly: true });
  try {
    return db.prepare('SELECT dir, server_pid, server_start_ticks, owner_pid FROM file_mounts').all() as MountRow[];
  } finally {
    db.close();
  }
}

interface Mounting {
  readonly child: ChildProcessWithoutNullStreams;
  readonly mounted: Promise<{ dir: string; filesystems: string[] }>;
  readonly exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function startMount(dir: string): Mounting {
  mkdirSync(dir);
  mountDirs.push(dir);
  const child = spawn(process.execPath, [BIN, 'mount', guest.vm, dir, '--db', guest.db, '--json'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, CI: '1' },
  });
  started.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const mounted = new Promise<{ dir: string; filesystems: string[] }>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((text) => text.includes('"type":"mounted"'));
      if (line) resolve(JSON.parse(line) as { dir: string; filesystems: string[] });
    });
    child.once('close', (code) =>
      reject(new Error(`mount ended (exit ${code}) before mounting:\n${stdout}\n${stderr}`)),
    );
  });
  mounted.catch(() => undefined);
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { child, mounted, exited };
}

describe('mount', () => {
  it('mounts the latest point read-only until SIGTERM, then unmounts and forgets it', async () => {
    const before = repositoryFingerprint(guest.repository);
    const dir = path.join(ws.dir, 'mnt');
    const mounting = startMount(dir);
    const mounted = await mounting.mounted;
    expect(mounted.filesystems).toEqual(['p1']);
    expect(isMountPoint(dir)).toBe(true);
    expect(mountRows().map((row) => row.dir)).toEqual([dir]);
    // The files as the test wrote them at point 2.
    expect(readTree(path.join(dir, 'p1'))).toEqual(guest.trees[1]);
    expect(() => writeFileSync(path.join(dir, 'p1', 'new.txt'), 'no')).toThrow(/EROFS|EACCES|EPERM|read-only/i);
    const server = mountRows()[0].server_pid;
    mounting.child.kill('SIGTERM');
    const exit = await mounting.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stdout).toContain('"type":"unmounted"');
    expect(isMountPoint(dir)).toBe(false);
    expect(mountRows()).toEqual([]);
    expect(isProcessAlive(server)).toBe(false);
    expect(repositoryFingerprint(guest.repository)).toEqual(before);
  }, 600_000);

  it('leaves a mount behind when killed with SIGKILL, and doctor unmounts it and stops its server', async () => {
    const dir = path.join(ws.dir, 'mnt killed');
    const mounting = startMount(dir);
    await mounting.mounted;
    const [row] = mountRows();
    mounting.child.kill('SIGKILL');
    await mounting.exited;
    expect(isMountPoint(dir)).toBe(true);
    const doctor = await sendenseFiles(['doctor', '--db', guest.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toMatch(
      /mount of VM mvm backup .* at .*mnt killed .*gone.*: unmount it and stop its appliance: done/,
    );
    expect(isMountPoint(dir)).toBe(false);
    expect(isProcessAlive(row.server_pid)).toBe(false);
    expect(mountRows()).toEqual([]);
  }, 600_000);

  it('refuses a directory that is not empty, in one line, before starting anything', async () => {
    const dir = path.join(ws.dir, 'full');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'x'), 'x');
    const result = await sendenseFiles(['mount', guest.vm, dir, '--db', guest.db]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toBe(`sendense-run: ${dir} is not empty: mount on an empty directory`);
  });
});
