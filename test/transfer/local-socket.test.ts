// On this host the hub's qemu-nbd serves a backup's new file on a Unix socket in a private 0700
// directory, never on a TCP port (docs/how-it-works.md#the-data-path, step 4): the node transfer
// reaches it there, the point is exact, and the run leaves neither the socket nor its directory;
// after a kill -9 of the hub, doctor removes them with its qemu-nbd, and a later run those whose
// qemu-nbd was killed outright.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeRestorePlan } from '../restore/restore-plan.js';
import { commandLine, descendantPids } from '../support/process-tree.js';
import { NotedProcesses, waitForProcessGone } from '../support/processes.js';
import { useRunWorkspace } from '../support/run-workspace.js';
import { parseEvents, sendenseRun, startSendenseRun, writePlan } from '../support/sendense-cli.js';
import { createDisk, keepCopy, portRangeForTestFile, writeDisk } from '../support/vm-disks.js';

const MiB = 1024 * 1024;
const ports = portRangeForTestFile();
const ws = useRunWorkspace('local-socket-');
const noted = new NotedProcesses();
// Socket directories a test made or found; gone after it whatever happened.
const madeDirs: string[] = [];
afterEach(() => {
  noted.killAll();
  for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Served {
  readonly argv: readonly string[];
  /** The mode of the socket's directory while qemu-nbd ran. */
  readonly dirMode?: number;
}

// The qemu-nbd processes that serve files of the repository while `exited` is pending, each once.
async function hubServersDuring(exited: Promise<unknown>): Promise<Served[]> {
  const seen = new Map<number, Served>();
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    for (const pid of readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number)) {
      if (seen.has(pid)) continue;
      const argv = commandLine(pid);
      if (!argv[0]?.endsWith('qemu-nbd') || !argv.some((arg) => arg.includes(ws.repository))) continue;
      const socket = argv.find((arg) => arg.startsWith('--socket='))?.slice('--socket='.length);
      const dirMode =
        socket === undefined ? undefined : statSync(path.dirname(socket), { throwIfNoEntry: false })?.mode;
      seen.set(pid, { argv, ...(dirMode === undefined ? {} : { dirMode: dirMode & 0o777 }) });
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return [...seen.values()];
}

describe('the hub serves a local run on a Unix socket', () => {
  it('an incremental of a local disk: its new file served on a socket in a 0700 directory, no TCP port; exact, and nothing left', async () => {
    const disk = createDisk(path.join(ws.dir, 'disk.qcow2'), 64 * MiB);
    writeDisk(disk, ['write -P 0x41 0 16M', 'write -P 0x42 40M 8M']);
    const plan = writePlan(ws.dir, {
      name: 'sock-nightly',
      vm: 'sockvm',
      disks: [{ key: 2000, path: disk }],
      repository: ws.repository,
      ports,
    });
    const full = await sendenseRun([plan, '--db', ws.db]);
    expect(full.exitCode, `${full.stdout}\n${full.stderr}`).toBe(0);

    // Data over data, zeroes over data (they must mask the parent), data in a hole.
    writeDisk(disk, ['write -P 0x43 4M 2M', 'write -z 42M 2M', 'write -P 0x44 60M 1M']);
    const copy = keepCopy(disk, path.join(ws.dir, 'point-2.qcow2'));
    const run = startSendenseRun([plan, '--db', ws.db]);
    const servers = await hubServersDuring(run.exited);
    const result = await run.exited;
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);

    expect(servers).toHaveLength(1);
    const { argv, dirMode } = servers[0]!;
    const socket = argv.find((arg) => arg.startsWith('--socket='))?.slice('--socket='.length);
    expect(socket, argv.join(' ')).toMatch(new RegExp(`^${tmpdir()}/sendense-serve-[^/]+/disk-2000\\.sock$`));
    expect(argv.filter((arg) => arg.startsWith('--port') || arg.startsWith('--bind'))).toEqual([]);
    expect(dirMode?.toString(8)).toBe('700');
    const started = parseEvents(result.stdout).find(
      (event) => event.type === 'step-done' && event.step === 'start-qemu-nbd',
    );
    expect(started?.facts?.disks).toEqual([{ key: 2000, url: `nbd+unix:///sockvm-disk-2000?socket=${socket}` }]);
    expect(existsSync(path.dirname(socket!)), 'the socket directory after the run').toBe(false);

    const restored = path.join(ws.dir, 'restored-{key}.qcow2');
    const restorePlan = writeRestorePlan(ws.dir, {
      name: 'sock-restore',
      vm: 'sockvm',
      repository: ws.repository,
      ports,
      point: 'latest',
      target: { type: 'file', path: restored, format: 'qcow2' },
    });
    const restore = await sendenseRun([restorePlan, '--db', ws.db]);
    expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
    const compare = spawnSync(
      'qemu-img',
      ['compare', '-f', 'qcow2', '-F', 'qcow2', copy, restored.replace('{key}', '2000')],
      { encoding: 'utf8' },
    );
    expect(`${compare.stdout}${compare.stderr}`.trim()).toBe('Images are identical.');
    const verify = await sendenseRun(['verify', '--vm', 'sockvm', '--db', ws.db]);
    expect(verify.exitCode, `${verify.stdout}\n${verify.stderr}`).toBe(0);
  });

  it('a kill -9 of the hub mid-incremental leaves its sockets; doctor stops the qemu-nbd, removes them and the directory, and the next run is exact', async () => {
    const disks = [0, 1].map((index) => ({
      key: 2000 + index,
      path: createDisk(path.join(ws.dir, `kill-${index}.qcow2`), 512 * MiB),
    }));
    for (const disk of disks) writeDisk(disk.path, ['write -P 0x51 0 64M']);
    const plan = writePlan(ws.dir, {
      name: 'sockkill-nightly',
      vm: 'sockkill',
      disks,
      repository: ws.repository,
      ports,
    });
    const full = await sendenseRun([plan, '--db', ws.db]);
    expect(full.exitCode, `${full.stdout}\n${full.stderr}`).toBe(0);

    for (const disk of disks) writeDisk(disk.path, ['write -P 0x52 64M 384M']);
    const run = startSendenseRun([plan, '--db', ws.db]);
    noted.add(run.pid);
    await run.waitForEvent((event) => event.type === 'step-done' && event.step === 'start-qemu-nbd');
    const servers = descendantPids(run.pid).filter((pid) =>
      commandLine(pid).some((arg) => arg.startsWith('--socket=') && arg.includes('/sendense-serve-')),
    );
    for (const pid of servers) noted.add(pid);
    process.kill(run.pid, 'SIGKILL');
    expect((await run.exited).signal, 'the run ended before the kill').toBe('SIGKILL');
    expect(servers).toHaveLength(2);
    const sockets = servers.map((pid) =>
      commandLine(pid)
        .find((arg) => arg.startsWith('--socket='))!
        .slice('--socket='.length),
    );
    const dir = path.dirname(sockets[0]!);
    madeDirs.push(dir);
    // One qemu-nbd dies outright too (it leaves its socket); the other outlives the hub.
    process.kill(servers[0]!, 'SIGKILL');
    expect(await waitForProcessGone(servers[0]!)).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(sockets.map((socket) => path.basename(socket)).sort());

    const doctor = await sendenseRun(['doctor', '--db', ws.db]);
    expect(doctor.exitCode, `${doctor.stdout}\n${doctor.stderr}`).toBe(0);
    expect(await waitForProcessGone(servers[1]!), 'the qemu-nbd that outlived the hub').toBe(true);
    expect(existsSync(dir), `${dir} after doctor`).toBe(false);

    const next = await sendenseRun([plan, '--db', ws.db]);
    expect(next.exitCode, `${next.stdout}\n${next.stderr}`).toBe(0);
    const copies = disks.map((disk) => keepCopy(disk.path, path.join(ws.dir, `kill-copy-${disk.key}.qcow2`)));
    const restored = path.join(ws.dir, 'kill-restored-{key}.qcow2');
    const restorePlan = writeRestorePlan(ws.dir, {
      name: 'sockkill-restore',
      vm: 'sockkill',
      repository: ws.repository,
      ports,
      point: 'latest',
      target: { type: 'file', path: restored, format: 'qcow2' },
    });
    const restore = await sendenseRun([restorePlan, '--db', ws.db]);
    expect(restore.exitCode, `${restore.stdout}\n${restore.stderr}`).toBe(0);
    disks.forEach((disk, index) => {
      const compare = spawnSync(
        'qemu-img',
        ['compare', '-f', 'qcow2', '-F', 'qcow2', copies[index]!, restored.replace('{key}', String(disk.key))],
        { encoding: 'utf8' },
      );
      expect(`${compare.stdout}${compare.stderr}`.trim(), `disk ${disk.key}`).toBe('Images are identical.');
    });
  });

  it('a socket directory a minute old whose qemu-nbd was killed outright, with no doctor, goes with the next run; one whose server listens stays', async () => {
    const mine = (name: string) => {
      const dir = mkdtempSync(path.join(tmpdir(), `sendense-serve-${name}-`));
      madeDirs.push(dir);
      return dir;
    };
    const dead = mine('dead');
    const image = createDisk(path.join(ws.dir, 'dead.qcow2'), 16 * MiB);
    const server = spawn(
      'qemu-nbd',
      ['--persistent', '-f', 'qcow2', `--socket=${path.join(dead, 'disk-2000.sock')}`, image],
      { stdio: 'ignore' },
    );
    noted.add(server.pid);
    while (!existsSync(path.join(dead, 'disk-2000.sock'))) {
      expect(server.exitCode, 'qemu-nbd ended before making its socket').toBeNull();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    server.kill('SIGKILL');
    expect(await waitForProcessGone(server.pid!)).toBe(true);
    const live = mine('live');
    const listener = createServer().listen(path.join(live, 'disk-2000.sock'));
    await once(listener, 'listening');
    try {
      const old = new Date(Date.now() - 120_000);
      for (const dir of [dead, live]) utimesSync(dir, old, old);

      const disk = createDisk(path.join(ws.dir, 'sweep.qcow2'), 16 * MiB);
      writeDisk(disk, ['write -P 0x61 0 1M']);
      const plan = writePlan(ws.dir, {
        name: 'sweep-nightly',
        vm: 'sweepvm',
        disks: [{ key: 2000, path: disk }],
        repository: ws.repository,
        ports,
      });
      // A full, copied by qemu-img with no qemu-nbd; then an incremental, whose served file makes a new directory.
      for (let run = 0; run < 2; run++) {
        const result = await sendenseRun([plan, '--db', ws.db]);
        expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
      }
      expect(existsSync(dead), 'the dead socket directory').toBe(false);
      expect(readdirSync(live)).toEqual(['disk-2000.sock']);
    } finally {
      listener.close();
    }
  });
});
