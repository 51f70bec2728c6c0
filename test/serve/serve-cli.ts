// `sendense-run serve` as a user runs it, for the serve tests: started in the background, its
// URL lines (or --json `serving` object) awaited, stopped by a signal to its PID; every serve a
// test started and every qemu-nbd its state database recorded is killed after the test by PID.

import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { afterEach } from 'vitest';
import { recordedProcesses } from '../support/process-tree.js';
import { killIfAlive } from '../support/processes.js';
import { BIN } from '../support/sendense-cli.js';

export interface ServedDiskLine {
  readonly key: number;
  readonly url: string;
  readonly file?: string;
  readonly overlay?: string;
  readonly writable?: boolean;
}

export interface ServeExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunningServe {
  readonly child: ChildProcessWithoutNullStreams;
  /** Each disk served, once its line (or the --json `serving` object) is out; rejects if serve ends first. */
  readonly serving: Promise<readonly ServedDiskLine[]>;
  readonly exited: Promise<ServeExit>;
}

// Registers the cleanup; `db()` is read after each test (the processes a serve recorded there).
export function useServes(db: () => string): {
  start(args: readonly string[], disks: number, env?: Readonly<Record<string, string>>): RunningServe;
} {
  const started: ChildProcessWithoutNullStreams[] = [];
  afterEach(() => {
    for (const child of started.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    try {
      for (const recorded of recordedProcesses(db())) killIfAlive(recorded);
    } catch {
      // No state database (yet).
    }
  });
  return {
    start(args, disks, env = {}) {
      const child = spawn(process.execPath, [BIN, 'serve', ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, CI: '1', ...env },
      });
      started.push(child);
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const serving = new Promise<readonly ServedDiskLine[]>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const lines = stdout.split('\n').slice(0, -1);
          const json = lines.find((line) => line.startsWith('{"type":"serving"'));
          if (json !== undefined) resolve((JSON.parse(json) as { disks: ServedDiskLine[] }).disks);
          else if (!args.includes('--json') && lines.length >= disks) resolve(lines.map(parseUrlLine));
        });
        child.once('close', (code) =>
          reject(new Error(`serve ended (exit ${code}) before serving:\n${stdout}\n${stderr}`)),
        );
      });
      serving.catch(() => undefined);
      const exited = new Promise<ServeExit>((resolve) =>
        child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
      );
      return { child, serving, exited };
    },
  };
}

// "2000 nbd+unix:///vm-disk-2000?socket=/tmp/sendense-serve-XXXXXX/disk-2000.sock", or with --tcp
// "2000 nbds://sendense@127.0.0.1:20001/vm-disk-2000?tls-psk-file=/tmp/sendense-serve-tls-XXXXXX/keys.psk"
function parseUrlLine(line: string): ServedDiskLine {
  const match =
    /^(\d+) (nbd\+unix:\/\/\/\S+\?socket=\S+|nbds:\/\/sendense@127\.0\.0\.1:\d+\/\S+\?tls-psk-file=\S+)$/.exec(line);
  if (match === null) throw new Error(`not a KEY URL line: '${line}'`);
  return { key: Number(match[1]), url: match[2]! };
}

export function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** The Unix socket of an nbd+unix URL. */
export function socketOf(url: string): string {
  return new URL(url).searchParams.get('socket')!;
}

// '' when the export reads exactly as the qcow2 image (a kept source copy), else what qemu-img said.
export function exportDifference(url: string, image: string): string {
  const result = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', url, image], { encoding: 'utf8' });
  return result.status === 0 ? '' : `${result.stdout}${result.stderr}`.trim() || `exit ${result.status}`;
}

// qemu-io commands on an export, e.g. qemuIo(url, 'write -P 0x5a 1M 64k'); never throws.
export function qemuIo(url: string, ...commands: string[]): { status: number | null; output: string } {
  const result = spawnSync('qemu-io', ['-f', 'raw', ...commands.flatMap((command) => ['-c', command]), url], {
    encoding: 'utf8',
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

// Whether something accepts connections where an export's URL points (its Unix socket, or 127.0.0.1:port).
export function accepts(url: string): Promise<boolean> {
  const where = url.startsWith('nbd+unix:') ? { path: socketOf(url) } : { host: '127.0.0.1', port: portOf(url) };
  return new Promise((resolve) => {
    const socket = connect(where, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// A hub config giving serve the test file's own port range.
export function writeHubConfig(dir: string, ports: readonly [number, number]): string {
  const file = path.join(dir, 'hub.yaml');
  writeFileSync(file, `nbd:\n  ports: ${ports[0]}-${ports[1]}\n`);
  return file;
}
