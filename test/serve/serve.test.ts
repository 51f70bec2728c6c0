// `sendense-run serve` on this host: each disk of a point of a 2-disk VM (a full, then an
// incremental: a chain) exported over NBD, read-only or over overlays; what it took given back on
// SIGTERM, by doctor after a kill -9, and when one qemu-nbd dies; the repository never written.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/process/process-identity.js';
import { SqliteDatabase } from '../../src/store/sqlite-driver.js';
import { repositoryFingerprint } from '../files/guest-disk.js';
import { backUpVm, type BackedUpVm } from '../restore/restore-chain.js';
import { commandLine, leasedPorts, recordedProcesses, tableRows, type DbProcess } from '../support/process-tree.js';
import { DEADLINE_UNDER_LOAD_MS, waitForProcessGone } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { runStatuses, sendenseRun, type CliResult } from '../support/sendense-cli.js';
import { portRangeForTestFile } from '../support/vm-disks.js';
import { asNobody } from '../support/other-user-cli.js';
import {
  accepts,
  exportDifference,
  portOf,
  qemuIo,
  socketOf,
  useServes,
  writeHubConfig,
  type ServedDiskLine,
} from './serve-cli.js';

const ws = useRunWorkspace('serve-', { per: 'file' });
const ports = portRangeForTestFile(20);
let vm: BackedUpVm;
let hubConfig: string;
const serves = useServes(() => path.join(ws.dir, 'state.db'));
const options = () => ['--db', vm.db, '--hub-config', hubConfig];

beforeAll(async () => {
  vm = await backUpVm(ws.dir, { vm: 'svm', ports, points: 2 });
  hubConfig = writeHubConfig(ws.dir, ports);
}, 300_000);

// The serve gave back everything: its qemu-nbd processes (by PID), their ports, its leases and files.
async function expectAllGivenBack(recorded: readonly DbProcess[], disks: readonly ServedDiskLine[]): Promise<void> {
  for (const server of recorded)
    expect(
      await waitForProcessGone(server.pid, DEADLINE_UNDER_LOAD_MS, server.startTicks),
      `qemu-nbd ${server.pid}`,
    ).toBe(true);
  expect(recordedProcesses(vm.db)).toEqual([]);
  expect(leasedPorts(vm.db)).toEqual([]);
  expect(tableRows(vm.db, 'run_files')).toEqual([]);
  for (const disk of disks) expect(await accepts(disk.url), disk.url).toBe(false);
}

function expectOneLineError(result: CliResult, exitCode: number, message: RegExp): void {
  expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(exitCode);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  expect(result.stderr).toMatch(message);
  expect(result.stderr).not.toMatch(/internal error|\n\s+at /);
}

describe('serve', () => {
  it('serves the latest point read-only: each export reads as the source did, a write is refused, SIGTERM gives everything back', async () => {
    const before = repositoryFingerprint(vm.repository);
    const serve = serves.start(['svm', ...options()], 2);
    const disks = await serve.serving;
    expect(disks.map((disk) => disk.key)).toEqual([2000, 2001]);
    const recorded = recordedProcesses(vm.db);
    expect(recorded.map((row) => row.kind)).toEqual(['qemu-nbd', 'qemu-nbd']);
    for (const server of recorded) expect(commandLine(server.pid)).toContain('--read-only');
    // Unix sockets in one private directory, no port (docs/instant-recovery.md).
    expect(leasedPorts(vm.db)).toEqual([]);
    const socketDir = path.dirname(socketOf(disks[0]!.url));
    expect(statSync(socketDir).mode & 0o777).toBe(0o700);
    for (const disk of disks) {
      expect(disk.url).toBe(`nbd+unix:///svm-disk-${disk.key}?socket=${socketDir}/disk-${disk.key}.sock`);
      // The incremental read through its chain: the source at point 2, not at point 1.
      expect(exportDifference(disk.url, vm.copies[1]![disk.key]!), `disk ${disk.key}`).toBe('');
      expect(exportDifference(disk.url, vm.copies[0]![disk.key]!), `disk ${disk.key}`).not.toBe('');
    }
    const write = qemuIo(disks[0]!.url, 'write -P 0x5a 0 64k');
    expect(write.status).not.toBe(0);
    expect(write.output).toMatch(/permission denied|read-only/i);
    expect(exportDifference(disks[0]!.url, vm.copies[1]![2000]!)).toBe('');

    serve.child.kill('SIGTERM');
    const exit = await serve.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stdout.split('\n').filter(Boolean)).toEqual(disks.map((disk) => `${disk.key} ${disk.url}`));
    expect(exit.stderr).toContain('Ctrl+C (or SIGTERM) stops serving');
    await expectAllGivenBack(recorded, disks);
    expect(existsSync(socketDir)).toBe(false);
    expect((await runStatuses(vm.db))[0]).toBe('succeeded');
    expect(repositoryFingerprint(vm.repository)).toEqual(before);
  });

  it('another local user (nobody) can neither read nor write a served export, even a writable one', async () => {
    const serve = serves.start(['svm', '--writable', ...options()], 2);
    const disks = await serve.serving;
    const url = disks[0]!.url;
    const read = spawnSync('setpriv', asNobody(['nbdinfo', '--size', url]), { encoding: 'utf8' });
    expect(read.status, read.stdout).not.toBe(0);
    expect(read.stderr).toMatch(/permission denied/i);
    const write = spawnSync('setpriv', asNobody(['qemu-io', '-f', 'raw', '-c', 'write -P 0x66 0 1M', url]), {
      encoding: 'utf8',
    });
    expect(write.status, write.stdout).not.toBe(0);
    // This user reads it, and it still holds the point: nothing of nobody's landed.
    expect(exportDifference(url, vm.copies[1]![2000]!)).toBe('');
    serve.child.kill('SIGTERM');
    expect((await serve.exited).code).toBe(0);
  });

  it('--tcp: a leased port behind NBD TLS; a client without the key is refused, with it the export reads as the point', async () => {
    const serve = serves.start(['svm', '--tcp', '--disk', '2000', '--json', ...options()], 1);
    const [disk] = (await serve.serving) as [ServedDiskLine];
    const pskFile = new URL(disk.url).searchParams.get('tls-psk-file')!;
    expect(disk.url).toBe(`nbds://sendense@127.0.0.1:${portOf(disk.url)}/svm-disk-2000?tls-psk-file=${pskFile}`);
    expect(portOf(disk.url)).toBeGreaterThanOrEqual(ports[0]);
    expect(statSync(pskFile).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(pskFile)).mode & 0o777).toBe(0o700);
    const key = readFileSync(pskFile, 'utf8');
    // Plain NBD, and TLS with another key, as any local user could try: refused before any data.
    const plain = spawnSync(
      'setpriv',
      asNobody(['nbdinfo', '--size', `nbd://127.0.0.1:${portOf(disk.url)}/svm-disk-2000`]),
      { encoding: 'utf8' },
    );
    expect(plain.status).not.toBe(0);
    expect(plain.stderr).toMatch(/TLS/);
    const guessed = path.join(ws.dir, 'guessed.psk');
    writeFileSync(guessed, `sendense:${'ab'.repeat(32)}\n`, { mode: 0o600 });
    const wrongKey = spawnSync('nbdinfo', ['--size', disk.url.replace(pskFile, guessed)], { encoding: 'utf8' });
    expect(wrongKey.status).not.toBe(0);
    // With the key: every byte of the point.
    const copy = path.join(ws.dir, 'tcp-copy.raw');
    const fetched = spawnSync('nbdcopy', [disk.url, copy], { encoding: 'utf8' });
    expect(fetched.status, fetched.stderr).toBe(0);
    expect(exportDifference(copy, vm.copies[1]![2000]!)).toBe('');
    rmSync(copy);
    serve.child.kill('SIGTERM');
    const exit = await serve.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).toContain(`NBD TLS: a client needs the pre-shared key in ${pskFile}`);
    // The key itself is never printed, and its file goes with the serve.
    expect(`${exit.stdout}${exit.stderr}`).not.toContain(key.trim().split(':')[1]);
    expect(existsSync(pskFile)).toBe(false);
    expect(leasedPorts(vm.db)).toEqual([]);
    expect(tableRows(vm.db, 'run_files')).toEqual([]);
  });

  it('serves an older point and only the disks asked for; --quiet keeps the notes off stderr', async () => {
    const serve = serves.start(['svm', '--point', vm.backups[0]!.id, '--disk', '2001', '--quiet', ...options()], 1);
    const disks = await serve.serving;
    expect(disks.map((disk) => disk.key)).toEqual([2001]);
    expect(exportDifference(disks[0]!.url, vm.copies[0]![2001]!)).toBe('');
    expect(recordedProcesses(vm.db)).toHaveLength(1);
    serve.child.kill('SIGINT');
    const exit = await serve.exited;
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stderr).not.toContain('stops serving');
    expect(exit.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('--writable: writes land in overlays outside the repository, read back, and the overlays go when serving stops', async () => {
    const before = repositoryFingerprint(vm.repository);
    const serve = serves.start(['svm', '--writable', '--json', ...options()], 2);
    const disks = await serve.serving;
    const overlayDir = path.join(ws.dir, 'serve-overlays');
    expect(statSync(overlayDir).mode & 0o777).toBe(0o700);
    const latest = vm.backups[1]!;
    for (const disk of disks) {
      expect(disk.writable).toBe(true);
      expect(disk.file).toBe(latest.disks.find((row) => row.diskKey === disk.key)!.file);
      expect(path.dirname(disk.overlay!)).toBe(overlayDir);
      // As private as the repository's own files.
      expect(statSync(disk.overlay!).mode & 0o777).toBe(0o600);
      expect(exportDifference(disk.url, vm.copies[1]![disk.key]!)).toBe('');
    }
    expect((tableRows(vm.db, 'run_files') as { path: string }[]).map((row) => row.path).sort()).toEqual(
      disks.map((disk) => disk.overlay).sort(),
    );
    const recorded = recordedProcesses(vm.db);
    for (const server of recorded) expect(commandLine(server.pid)).not.toContain('--read-only');

    const [first, second] = disks as [ServedDiskLine, ServedDiskLine];
    expect(qemuIo(first.url, 'write -P 0x5a 1M 64k').status).toBe(0);
    // Read back over a new connection: the write is in the overlay, not in a client cache.
    const readBack = qemuIo(first.url, 'read -P 0x5a 1M 64k');
    expect(readBack.status, readBack.output).toBe(0);
    expect(readBack.output).not.toMatch(/verification failed/i);
    expect(exportDifference(first.url, vm.copies[1]![first.key]!)).not.toBe('');
    expect(exportDifference(second.url, vm.copies[1]![second.key]!)).toBe('');
    expect(repositoryFingerprint(vm.repository)).toEqual(before);

    serve.child.kill('SIGTERM');
    const exit = await serve.exited;
    expect(exit.code, exit.stderr).toBe(0);
    const lines = exit.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; vm?: string; backupId?: string });
    expect(lines.map((line) => line.type)).toEqual(['serving', 'stopped']);
    expect(lines[1]).toEqual({ type: 'stopped', vm: 'svm', backupId: latest.id });
    for (const disk of disks) expect(existsSync(disk.overlay!), disk.overlay).toBe(false);
    await expectAllGivenBack(recorded, disks);
    expect(repositoryFingerprint(vm.repository)).toEqual(before);
  });

  it('after a kill -9 of a writable serve, doctor stops its qemu-nbd, releases its ports and deletes its overlays; verify passes', async () => {
    const before = repositoryFingerprint(vm.repository);
    const serve = serves.start(['svm', '--writable', '--json', ...options()], 2);
    const disks = await serve.serving;
    expect(qemuIo(disks[0]!.url, 'write -P 0x6b 0 64k').status).toBe(0);
    const recorded = recordedProcesses(vm.db);
    serve.child.kill('SIGKILL');
    await serve.exited;
    // What the killed serve left behind.
    for (const server of recorded) expect(isProcessAlive(server.pid, server.startTicks)).toBe(true);
    for (const disk of disks) expect(existsSync(disk.overlay!)).toBe(true);
    for (const disk of disks) expect(existsSync(socketOf(disk.url))).toBe(true);

    const doctor = await sendenseRun(['doctor', '--db', vm.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(doctor.stdout).toMatch(/qemu-nbd pid \d+ of run \S+: stop it: done/);
    expect(doctor.stdout).toMatch(/serve-overlay .*serve-overlays.*: delete it: done/);
    for (const disk of disks) expect(existsSync(disk.overlay!), disk.overlay).toBe(false);
    expect(readdirSync(path.join(ws.dir, 'serve-overlays'))).toEqual([]);
    // Its sockets, and their private directory, went with its qemu-nbd.
    expect(existsSync(path.dirname(socketOf(disks[0]!.url)))).toBe(false);
    await expectAllGivenBack(recorded, disks);
    expect((await runStatuses(vm.db))[0]).toBe('failed');

    const verify = await sendenseRun(['verify', '--vm', 'svm', '--db', vm.db]);
    expect(verify.exitCode, `${verify.stdout}\n${verify.stderr}`).toBe(0);
    expect(verify.stdout).toMatch(/verified 2 backup\(s\), no damage found/);
    expect(repositoryFingerprint(vm.repository)).toEqual(before);
  });

  it('a qemu-nbd dying while serving: one line naming the disk, the others stopped, exit 1', async () => {
    const serve = serves.start(['svm', ...options()], 2);
    const disks = await serve.serving;
    const recorded = recordedProcesses(vm.db);
    const victim = recorded.find((server) => commandLine(server.pid).some((arg) => arg.includes('disk-2001')))!;
    process.kill(victim.pid, 'SIGKILL');
    const exit = await serve.exited;
    expect(exit.code, exit.stderr).toBe(1);
    const errors = exit.stderr.split('\n').filter((line) => line.startsWith('sendense-run:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^sendense-run: qemu-nbd for disk 2001 \(.*disk-2001.*\) was killed \(SIGKILL\)/);
    expect(exit.stderr).not.toMatch(/\n\s+at /);
    await expectAllGivenBack(recorded, disks);
    expect((await runStatuses(vm.db))[0]).toBe('failed');
  });

  describe('refusals, in one line', () => {
    it('a VM with no backup or a time the backups do not have (exit 2), a disk they do not have (exit 1): nothing left', async () => {
      expectOneLineError(
        await sendenseRun(['serve', 'nosuch', ...options()]),
        2,
        /there is no complete backup of VM nosuch/,
      );
      expectOneLineError(
        await sendenseRun(['serve', 'svm', '--disk', '9999', ...options()]),
        1,
        /backup \S+ has no disk 9999 \(it has 2000, 2001\)/,
      );
      expectOneLineError(
        await sendenseRun(['serve', 'svm', '--point', '2001-01-01T00:00:00Z', ...options()]),
        2,
        /no complete backup of VM svm at or before 2001-01-01T00:00:00.000Z: the first is/,
      );
      expectOneLineError(
        await sendenseRun(['serve', 'svm', '--db', path.join(ws.dir, 'none.db')]),
        1,
        /no state database at .*none\.db/,
      );
      expect(existsSync(path.join(ws.dir, 'none.db'))).toBe(false);
      expect(leasedPorts(vm.db)).toEqual([]);
      expect(recordedProcesses(vm.db)).toEqual([]);
    });

    it('bad options: exit 2 before anything is recorded', async () => {
      const runs = (await runStatuses(vm.db)).length;
      expectOneLineError(
        await sendenseRun(['serve', 'svm', '--disk', 'abc', ...options()]),
        2,
        /--disk: must be a disk key/,
      );
      expectOneLineError(
        await sendenseRun(['serve', 'svm', '--disk', '2000', '--disk=2000', ...options()]),
        2,
        /--disk 2000 is given twice/,
      );
      expectOneLineError(
        await sendenseRun(['serve', 'svm', '--point', '2026-01-01', ...options()]),
        2,
        /--point: '2026-01-01' is a date without a time/,
      );
      expectOneLineError(
        await sendenseRun(['serve', 'svm', '--identity', '/x', ...options()]),
        2,
        /--identity and --known-hosts go with --node/,
      );
      expectOneLineError(
        await sendenseRun(['serve', 'svm', '--node', 'a@b@c', ...options()]),
        2,
        /--node: must be \[USER@\]HOST\[:PORT\]/,
      );
      expectOneLineError(
        await sendenseRun(['serve', 'svm', '--node', 'host:70000', ...options()]),
        2,
        /--node: port 70000/,
      );
      expectOneLineError(
        await sendenseRun(['serve', 'svm', '--writeable', ...options()]),
        2,
        /unknown option '--writeable' for 'serve'.*--writable/,
      );
      expectOneLineError(await sendenseRun(['serve', ...options()]), 2, /serve needs a VM name/);
      expect((await runStatuses(vm.db)).length).toBe(runs);
    });

    it('--writable with the state database inside a repository: the overlays would be there, refused', async () => {
      const inside = path.join(vm.repository, 'serve-test.db');
      const copy = new SqliteDatabase(vm.db);
      try {
        copy.exec(`VACUUM INTO '${inside}'`);
      } finally {
        copy.close();
      }
      try {
        expectOneLineError(
          await sendenseRun(['serve', 'svm', '--writable', '--db', inside, '--hub-config', hubConfig]),
          1,
          /overlay directory .*serve-overlays is inside the repository/,
        );
        expect(existsSync(path.join(vm.repository, 'serve-overlays'))).toBe(false);
      } finally {
        for (const suffix of ['', '-wal', '-shm']) rmSync(`${inside}${suffix}`, { force: true });
      }
    });
  });
});
