// The transfer's own qemu-nbd for a qemu: source (read-only, -B for an incremental) or a
// file: target (writable), on a Unix socket in a private temp dir; stopped by its PID.

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SendenseError } from '../../src/errors.js';
import { NbdConnection, type ConnectOptions, type NbdAddress } from '../../src/nbd/index.js';
import { qemuNbdImageArgs } from '../../src/qemu/image-opts.js';
import { qemuNbdEnv } from '../../src/qemu/qemu-nbd-env.js';

export interface QemuNbdChild {
  readonly pid: number;
  readonly address: NbdAddress;
  /** The first connection, made to know it is ready; keep it: qemu-nbd exits after its last client. */
  readonly firstConnection: NbdConnection;
  stderrText(): string;
  stop(): Promise<void>;
}

export interface QemuNbdChildOptions {
  readonly path: string;
  readonly format: string;
  readonly readOnly: boolean;
  readonly bitmap?: string;
  readonly shared: number;
  /** A private directory for the socket. */
  readonly dir: string;
  readonly disk: number;
  readonly connectOptions: ConnectOptions;
}

const STDERR_LIMIT = 8192;
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 3000;

export async function startQemuNbdChild(options: QemuNbdChildOptions): Promise<QemuNbdChild> {
  const socketPath = join(options.dir, `qemu-nbd-${options.disk}-${options.readOnly ? 'source' : 'target'}.sock`);
  const argv = ['--shared', String(options.shared), '-k', socketPath, '-x', 'disk'];
  // Writable: let WRITE_ZEROES punch holes so restored files stay sparse.
  argv.push(...(options.readOnly ? ['-r'] : ['--discard=unmap']));
  if (options.bitmap !== undefined) argv.push('-B', options.bitmap);
  // A qcow2 with small L2 caches, whatever its size (src/qemu/image-opts.ts).
  argv.push(...qemuNbdImageArgs(options.path, options.format));
  const child = spawn('qemu-nbd', argv, { stdio: ['ignore', 'ignore', 'pipe'], env: qemuNbdEnv() });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < STDERR_LIMIT) stderr += chunk.toString('utf8');
  });
  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = signal ? `signal ${signal}` : `exit code ${code}`;
      resolve();
    });
  });
  const spawnFailed = new Promise<Error>((resolve) => child.once('error', resolve));
  const stop = async (): Promise<void> => {
    if (exitInfo !== undefined || child.pid === undefined) return;
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(killTimer);
  };
  const address: NbdAddress = Object.freeze({ kind: 'unix', socketPath, exportName: 'disk' });
  const role = options.readOnly ? 'source' : 'target';
  const died = (): SendenseError =>
    new SendenseError(`qemu-nbd for ${role} ${options.path} stopped (${exitInfo}): ${stderr.trim() || 'no message'}`, { disk: options.disk });

  // Ready = it completes an NBD handshake on its socket.
  const started = Date.now();
  for (;;) {
    const outcome = await Promise.race([
      spawnFailed.then((error) => ({ error })),
      exited.then(() => ({ exited: true as const })),
      NbdConnection.connect(address, options.connectOptions).then(
        (connection) => ({ connection }),
        (error: unknown) => ({ retry: error }),
      ),
    ]);
    if ('error' in outcome) throw new SendenseError(`cannot start qemu-nbd: ${outcome.error.message}`, { disk: options.disk, cause: outcome.error });
    if ('exited' in outcome) throw died();
    if ('connection' in outcome) {
      return {
        pid: child.pid!,
        address,
        firstConnection: outcome.connection,
        stderrText: () => stderr,
        stop,
      };
    }
    if (Date.now() - started > READY_TIMEOUT_MS) {
      await stop();
      throw new SendenseError(`qemu-nbd for ${role} ${options.path} did not become ready in ${READY_TIMEOUT_MS / 1000} s: ${stderr.trim()}`, { disk: options.disk });
    }
    await sleep(20);
  }
}
