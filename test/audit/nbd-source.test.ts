// nbd sources through the real CLI (docs/how-it-works.md#change-tracking-by-source): a full reads the allocated extents when the
// server reports them and everything when it does not; with `bitmap:` an incremental reads the
// export's qemu:dirty-bitmap:<name> context, whose name is the recorded change_id, and never builds
// on a backup that bitmap did not cover.

import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startNbdkit, startQemuNbd, useNbdServers, type TestNbdServer } from '../support/qemu-nbd-server.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { listBackups, sendenseRun, type BackupRow, type CliResult } from '../support/sendense-cli.js';
import { createDisk, differenceBetween, keepCopy, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ws = useRunWorkspace('audit-nbd-');
const servers = useNbdServers();

interface NbdPlan {
  readonly kind?: 'backup' | 'incremental';
  readonly url: string;
  readonly bitmap?: string;
  readonly onMissingChain?: 'full' | 'fail';
}

async function run(plan: NbdPlan): Promise<CliResult> {
  const doc = {
    version: 1,
    kind: plan.kind ?? 'incremental',
    name: 'nbd-plan',
    vm: {
      name: 'appliance',
      source: { type: 'nbd', disks: [{ key: 2000, url: plan.url, ...(plan.bitmap ? { bitmap: plan.bitmap } : {}) }] },
    },
    repository: { path: path.join(ws.dir, 'repo') },
    nbd: { ports: '45960-45979' },
    ...(plan.onMissingChain ? { incremental: { onMissingChain: plan.onMissingChain } } : {}),
  };
  const file = path.join(ws.dir, 'plan.yaml');
  writeFileSync(file, stringify(doc));
  return sendenseRun([file, '--db', ws.db]);
}

// Serves the image read-only (persistent, like an appliance), with -B when a bitmap is named.
async function serve(file: string, bitmap?: string): Promise<TestNbdServer> {
  const server = await startQemuNbd({ file, readOnly: true, bitmap, exportName: 'disk0', shared: 8 });
  servers.push(server);
  return server;
}

async function stop(server: TestNbdServer): Promise<void> {
  await server.stop();
  servers.splice(servers.indexOf(server), 1);
}

async function latest(): Promise<BackupRow> {
  return (await listBackups(ws.db)).filter((backup) => backup.status === 'complete').at(-1)!;
}

function expectOk(result: CliResult): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
}

describe('nbd source', () => {
  it('a full from qemu-nbd copies the allocated extents only, and equals the export', async () => {
    const image = createDisk(path.join(ws.dir, 'src.qcow2'), 256 * MiB);
    writeDisk(image, ['write -P 0xaa 0 4M', 'write -P 0xbb 100M 3M', `write -P 0xcc ${256 * MiB - 512} 512`]);
    const server = await serve(image);
    expectOk(await run({ kind: 'backup', url: server.url }));
    const backup = await latest();
    expect(differenceBetween(backup.disks[0].file, image)).toBe('');
    expect(backup.disks[0].bytes).toBeLessThan(16 * MiB);
    expect(backup.disks[0].changeId).toBeNull();
  });

  it('a full from a server without block status (nbdkit, noextents) copies everything', async () => {
    const server = await startNbdkit(
      ['--filter=noextents', 'data', 'data=(0x55)*1048576 @8388608 (0xaa)*65536 @33554431 (0x01)', 'size=32M'],
      path.join(ws.dir, 'kit.sock'),
    );
    servers.push(server);
    expectOk(await run({ kind: 'backup', url: server.url }));
    const copy = path.join(ws.dir, 'kit.raw');
    execFileSync('nbdcopy', [server.url, copy]);
    const backup = await latest();
    expect(differenceBetween(backup.disks[0].file, copy, 'raw')).toBe('');
    expect(backup.disks[0].bytes).toBe(32 * MiB);
  });

  it('with bitmap: full then incrementals read the dirty extents (cumulative), each point exact', async () => {
    const image = createDisk(path.join(ws.dir, 'src.qcow2'), 64 * MiB);
    writeDisk(image, ['write -P 0x11 0 8M', 'write -P 0x12 40M 4M']);
    execFileSync('qemu-img', ['bitmap', '--add', image, 'cbt']);
    let server = await serve(image, 'cbt');
    expectOk(await run({ url: server.url, bitmap: 'cbt' }));
    const full = await latest();
    expect(full.type).toBe('full');
    expect(full.disks[0].changeId).toBe('cbt');
    // The export's bitmap is not one this backup added: doctor must never remove it.
    expect(full.disks[0].bitmap).toBeNull();
    expect(differenceBetween(full.disks[0].file, image)).toBe('');

    const changes = [
      ['write -P 0x21 1M 1M', 'write -z 40M 1M', 'discard 42M 1M'],
      ['write -P 0x31 20M 512K', `write -P 0x32 ${64 * MiB - 512} 512`],
    ];
    let dirtySoFar = 0;
    for (const [round, commands] of changes.entries()) {
      await stop(server);
      writeDisk(image, commands);
      const point = keepCopy(image, path.join(ws.dir, `p${round}.qcow2`));
      server = await serve(image, 'cbt');
      const result = await run({ url: server.url, bitmap: 'cbt' });
      expectOk(result);
      expect(result.stdout + result.stderr).not.toMatch(/warning/i);
      expect(result.stdout).toContain("[snapshot-source] skipped: the export's own dirty bitmap tracks changes");
      const backup = await latest();
      expect(backup.type).toBe('incremental');
      expect(backup.disks[0].changeId).toBe('cbt');
      expect(differenceBetween(backup.disks[0].file, point), `round ${round}`).toBe('');
      // The export's bitmap is never reset: each incremental reads everything since it was added.
      expect(backup.disks[0].bytes!).toBeGreaterThan(dirtySoFar);
      expect(backup.disks[0].bytes!).toBeLessThanOrEqual(6 * MiB);
      dirtySoFar = backup.disks[0].bytes!;
    }
  });

  it('with bitmap over nbd+unix (a socket path with a comma): full then an exact incremental', async () => {
    const image = createDisk(path.join(ws.dir, 'src.qcow2'), 16 * MiB);
    writeDisk(image, ['write -P 0x11 0 2M']);
    execFileSync('qemu-img', ['bitmap', '--add', image, 'cbt']);
    const socket = path.join(ws.dir, 'a,b.sock');
    let server = await startQemuNbd({ file: image, readOnly: true, bitmap: 'cbt', exportName: 'disk0', socket });
    servers.push(server);
    expectOk(await run({ url: server.url, bitmap: 'cbt' }));
    await stop(server);
    writeDisk(image, ['write -P 0x22 8M 1M', 'write -z 0 64K']);
    server = await startQemuNbd({ file: image, readOnly: true, bitmap: 'cbt', exportName: 'disk0', socket });
    servers.push(server);
    const result = await run({ url: server.url, bitmap: 'cbt' });
    expectOk(result);
    const backup = await latest();
    expect(backup.type, result.stderr).toBe('incremental');
    expect(differenceBetween(backup.disks[0].file, image)).toBe('');
  });

  it('a qemu-nbd without -t (gone after the run opened it once): the failure says what to change', async () => {
    const image = createDisk(path.join(ws.dir, 'src.qcow2'), 16 * MiB);
    const socket = path.join(ws.dir, 'once.sock');
    const child = spawn('qemu-nbd', ['-r', '-f', 'qcow2', '-x', 'disk0', '-k', socket, image], { stdio: 'ignore' });
    try {
      for (let tries = 0; tries < 200 && !existsSync(socket); tries++) await sleep(25);
      const result = await run({ kind: 'backup', url: `nbd+unix:///disk0?socket=${socket}` });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain('needs -t/--persistent');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a bitmap the export does not offer: warned full (change_id none), or a failure with onMissingChain: fail', async () => {
    const image = createDisk(path.join(ws.dir, 'src.qcow2'), 16 * MiB);
    writeDisk(image, ['write -P 0x11 0 1M']);
    execFileSync('qemu-img', ['bitmap', '--add', image, 'cbt']);
    const server = await serve(image, 'cbt');
    expectOk(await run({ url: server.url, bitmap: 'cbt' }));

    const failed = await run({ url: server.url, bitmap: 'other', onMissingChain: 'fail' });
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toContain(`${server.url} does not offer the dirty bitmap 'other'`);
    expect((await listBackups(ws.db)).filter((backup) => backup.status === 'complete')).toHaveLength(1);

    const result = await run({ url: server.url, bitmap: 'other' });
    expectOk(result);
    expect(result.stdout + result.stderr).toMatch(
      /does not offer the dirty bitmap 'other'.*taking a full backup into a new chain/,
    );
    const backup = await latest();
    expect(backup.type).toBe('full');
    expect(backup.disks[0].changeId).toBeNull();
    expect(differenceBetween(backup.disks[0].file, image)).toBe('');
  });

  it('a parent read without the bitmap is not built on: warned full that records the bitmap', async () => {
    const image = createDisk(path.join(ws.dir, 'src.qcow2'), 16 * MiB);
    writeDisk(image, ['write -P 0x11 0 1M']);
    let server = await serve(image);
    expectOk(await run({ url: server.url }));
    await stop(server);
    // Changes made before the bitmap exists: an incremental on that bitmap would miss them.
    writeDisk(image, ['write -P 0x22 4M 1M']);
    execFileSync('qemu-img', ['bitmap', '--add', image, 'cbt']);
    server = await serve(image, 'cbt');
    const result = await run({ url: server.url, bitmap: 'cbt' });
    expectOk(result);
    expect(result.stdout + result.stderr).toMatch(/recorded no change_id.*taking a full backup into a new chain/);
    const backup = await latest();
    expect(backup.type).toBe('full');
    expect(backup.disks[0].changeId).toBe('cbt');
    expect(differenceBetween(backup.disks[0].file, image)).toBe('');
  });
});
