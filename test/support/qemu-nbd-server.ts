// Starts a qemu-nbd (or nbdkit) for a test, the way the hub does, and stops it by its PID.

import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './free-port.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach } from 'vitest';

export interface TestNbdServer {
  readonly pid: number;
  readonly url: string;
  stderr(): string;
  stop(): Promise<void>;
}

export interface QemuNbdOptions {
  readonly file: string;
  readonly format?: string;
  readonly exportName?: string;
  readonly readOnly?: boolean;
  readonly bitmap?: string;
  readonly shared?: number;
  /** Unix socket path; default TCP on 127.0.0.1 and a free port. */
  readonly socket?: string;
}

export async function startQemuNbd(options: QemuNbdOptions): Promise<TestNbdServer> {
  const exportName = options.exportName ?? 'disk';
  const argv = ['-f', options.format ?? 'qcow2', '--shared', String(options.shared ?? 10), '-t', '-x', exportName];
  if (options.readOnly) argv.push('-r');
  if (options.bitmap) argv.push('-B', options.bitmap);
  let url: string;
  let port = 0;
  if (options.socket) {
    argv.push('-k', options.socket);
    url = `nbd+unix:///${exportName}?socket=${options.socket}`;
  } else {
    port = await freePort();
    argv.push('-b', '127.0.0.1', '-p', String(port));
    url = `nbd://127.0.0.1:${port}/${exportName}`;
  }
  argv.push(options.file);
  return startServer('qemu-nbd', argv, url, options.socket ? { path: options.socket } : { port });
}

// nbdkit in the foreground (-f), e.g. with the error filter to fail requests mid-stream.
export async function startNbdkit(args: readonly string[], socket: string): Promise<TestNbdServer> {
  const argv = ['-f', '-U', socket, ...args];
  return startServer('nbdkit', argv, `nbd+unix:///?socket=${socket}`, { path: socket });
}

async function startServer(
  program: string,
  argv: string[],
  url: string,
  target: { path?: string; port?: number },
): Promise<TestNbdServer> {
  const child: ChildProcess = spawn(program, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const server: TestNbdServer = {
    pid: child.pid!,
    url,
    stderr: () => stderr,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    },
  };
  for (let attempt = 0; attempt < 200; attempt++) {
    if (exited) throw new Error(`${program} exited: ${stderr}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = target.path ? connect({ path: target.path }) : connect({ host: '127.0.0.1', port: target.port! });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return server;
    await sleep(25);
  }
  await server.stop();
  throw new Error(`${program} did not start listening: ${stderr}`);
}

// The servers a test file starts: push each one; all are stopped after every test (hooks
// registered later, e.g. closing connections to them, run before this one).
export function useNbdServers(): TestNbdServer[] {
  const servers: TestNbdServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.stop();
  });
  return servers;
}
