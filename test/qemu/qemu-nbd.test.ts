import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SendenseError } from '../../src/errors.js';
import { isProcessAlive, processStartTicks, terminateProcess } from '../../src/process/index.js';
import { bitmapAdd, createQcow2, startQemuNbd, type QemuNbd, type QemuNbdExit } from '../../src/qemu/index.js';
import { NotedProcesses, waitForProcessGone } from '../support/processes.js';
import { freePort } from '../support/free-port.js';

const MiB = 1024 * 1024;
let dir: string;
let image: string;
let started: QemuNbd[];
let pids: number[];
// The same processes by identity, noted when spawned: stopped after each test.
const noted = new NotedProcesses();
function note(...spawned: number[]): void {
  pids.push(...spawned);
  for (const pid of spawned) noted.add(pid);
}
let servers: Server[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sendense-qemu-nbd-'));
  image = join(dir, 'disk.qcow2');
  await createQcow2(image, 16 * MiB);
  started = [];
  pids = [];
  servers = [];
});

afterEach(async () => {
  for (const server of started) await server.stop();
  noted.killAll();
  for (const server of servers) await new Promise((done) => server.close(done));
  await rm(dir, { recursive: true, force: true });
});

async function start(options: Partial<Parameters<typeof startQemuNbd>[0]> = {}): Promise<QemuNbd> {
  const server = await startQemuNbd({
    file: image,
    format: 'qcow2',
    port: await freePort(),
    exportName: 'pgtest1-disk-2000',
    shared: 10,
    readOnly: false,
    onSpawn: (pid) => note(pid),
    ...options,
  });
  started.push(server);
  return server;
}

// Local addresses of listening TCP sockets on `port`, from /proc/net/tcp and tcp6 (hex, as the kernel writes them).
function listeners(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) =>
    readFileSync(file, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A')
      .map((fields) => fields[1]),
  );
}

describe('startQemuNbd', () => {
  it('is reachable with nbdinfo, listens on 127.0.0.1 only, and survives a client leaving', async () => {
    const spawned: number[] = [];
    const server = await start({ onSpawn: (pid) => void spawned.push(pid) });
    expect(spawned).toEqual([server.pid]);
    expect(server.url).toBe(`nbd://127.0.0.1:${server.port}/pgtest1-disk-2000`);
    expect(server.argv).toContain('--shared=10');
    expect(listeners(server.port!)).toEqual([`0100007F:${server.port!.toString(16).toUpperCase().padStart(4, '0')}`]);
    const info = await execa('nbdinfo', ['--json', server.url]);
    expect(JSON.parse(info.stdout).exports[0]).toMatchObject({
      'export-name': 'pgtest1-disk-2000',
      'export-size': 16 * MiB,
    });
    // Without --persistent qemu-nbd would exit now that nbdinfo has gone.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(isProcessAlive(server.pid)).toBe(true);
  });

  it('serves writes that land in the image, and offers a dirty bitmap to read-only clients', async () => {
    await bitmapAdd(image, 'sendense-b1');
    const writer = await start();
    await execa('nbdcopy', ['--', '[', 'nbdkit', 'pattern', 'size=65536', ']', writer.url]);
    await writer.stop();
    const reader = await start({ readOnly: true, bitmap: 'sendense-b1', port: await freePort() });
    const map = await execa('nbdinfo', ['--map=qemu:dirty-bitmap:sendense-b1', reader.url]);
    expect(map.stdout).toMatch(/^\s*0\s+65536\s+1\s+dirty/m);
  });

  it('serves on a Unix socket', async () => {
    const socket = join(dir, 'nbd.sock');
    const server = await start({ port: undefined, socket });
    expect(server.url).toBe(`nbd+unix:///pgtest1-disk-2000?socket=${socket}`);
    const size = await execa('nbdinfo', ['--size', server.url]);
    expect(size.stdout.trim()).toBe(String(16 * MiB));
  });

  it('stop() ends exactly that PID and is idempotent', async () => {
    const bystander = spawn('sleep', ['30'], { stdio: 'ignore' });
    note(bystander.pid!);
    const a = await start();
    const bPids: number[] = [];
    const b = await start({
      file: join(dir, 'other.qcow2'),
      port: await freePort(),
      onSpawn: (pid) => void bPids.push(pid),
    }).catch(() => undefined);
    // other.qcow2 does not exist: it must not leave a process behind either.
    expect(b).toBeUndefined();
    expect(bPids).toHaveLength(1);
    note(...bPids);
    expect(await waitForProcessGone(bPids[0]!)).toBe(true);
    const exits: QemuNbdExit[] = [];
    a.onExit((exit) => exits.push(exit));
    await Promise.all([a.stop(), a.stop()]);
    await a.stop();
    expect(await waitForProcessGone(a.pid)).toBe(true);
    expect(exits).toEqual([expect.objectContaining({ requested: true, signal: null, exitCode: 0 })]);
    expect(isProcessAlive(bystander.pid!)).toBe(true);
  });

  it('tells the engine when it dies unasked', async () => {
    const server = await start();
    const died = new Promise<QemuNbdExit>((resolve) => server.onExit(resolve));
    process.kill(server.pid, 'SIGKILL');
    expect(await died).toMatchObject({ requested: false, signal: 'SIGKILL' });
  });

  it("puts qemu-nbd's stderr in the error when it exits at once, and leaves nothing running", async () => {
    const missing = join(dir, 'missing.qcow2');
    const spawned: number[] = [];
    const port = await freePort();
    const failure = startQemuNbd({
      file: missing,
      format: 'qcow2',
      port,
      exportName: 'x',
      shared: 1,
      readOnly: true,
      onSpawn: (pid) => void spawned.push(pid),
    });
    await expect(failure).rejects.toBeInstanceOf(SendenseError);
    await expect(failure).rejects.toThrow(
      new RegExp(
        `^qemu-nbd for ${missing} on 127\\.0\\.0\\.1:${port} exited \\(code 1\\): .*No such file or directory`,
      ),
    );
    expect(spawned).toHaveLength(1);
    expect(await waitForProcessGone(spawned[0])).toBe(true);
  });

  it("reports qemu-nbd's own failure even when onSpawn fails because it already died", async () => {
    const missing = join(dir, 'missing.qcow2');
    const failure = startQemuNbd({
      file: missing,
      format: 'qcow2',
      port: await freePort(),
      exportName: 'x',
      shared: 1,
      readOnly: true,
      onSpawn: async (pid) => {
        note(pid);
        await waitForProcessGone(pid, 2000);
        throw new Error('could not record the process');
      },
    });
    await expect(failure).rejects.toThrow(/exited \(code 1\): .*No such file or directory/);
  });

  it('says clearly when the port is already in use', async () => {
    const server = createServer();
    servers.push(server);
    const port = await freePort();
    await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
    const failure = start({ port });
    await expect(failure).rejects.toThrow(
      `qemu-nbd for ${image} cannot listen on 127.0.0.1:${port}: the port is already in use`,
    );
    expect(pids).toHaveLength(1);
    expect(await waitForProcessGone(pids[0]!)).toBe(true);
  });
});

describe('process identity', () => {
  it('tells a recorded process from a PID reused by another', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    note(child.pid!);
    const ticks = processStartTicks(child.pid!)!;
    expect(ticks).toBeGreaterThan(0);
    expect(isProcessAlive(child.pid!, ticks)).toBe(true);
    expect(isProcessAlive(child.pid!, ticks - 1)).toBe(false);
    expect(await terminateProcess(child.pid!, { startTicks: ticks - 1 })).toBe('not-running');
    expect(isProcessAlive(child.pid!)).toBe(true);
    expect(await terminateProcess(child.pid!, { startTicks: ticks, timeoutMs: 2000 })).toBe('terminated');
    expect(isProcessAlive(child.pid!)).toBe(false);
  });

  it('SIGKILLs a process that ignores SIGTERM', async () => {
    const child = spawn('sh', ['-c', 'trap "" TERM; while :; do sleep 0.05; done'], { stdio: 'ignore' });
    note(child.pid!);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await terminateProcess(child.pid!, { timeoutMs: 300 })).toBe('killed');
  });
});
