// The qemu-nbd child of startQemuNbd (qemu-nbd.ts): spawned in its own process group, its stderr
// kept (the last 16 KiB), its exit watched, and stopped by its PID: SIGTERM, then SIGKILL.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants } from 'node:fs';
import path from 'node:path';
import { signalProcess } from '../process/index.js';
import { childEnv } from '../process/child-env.js';
import type { ImageSecret } from './image-secret.js';
import type { QemuNbd, QemuNbdExit, QemuNbdOptions } from './qemu-nbd-types.js';
import { qemuNbdEnv } from './qemu-nbd-env.js';
import { openSecretFd } from './secret-fd.js';

const STDERR_LIMIT = 16 * 1024;
// Unref'd: a stop() that won its race must not keep the CLI alive until the timeout ends.
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms).unref());

// Own process group: a Ctrl+C on the terminal reaches the runner, which stops qemu-nbd in order.
// setpriv execs qemu-nbd in place: the PID and what /proc shows are qemu-nbd's.
export function spawnQemuNbd(
  argv: readonly string[],
  secret: ImageSecret | undefined,
  diesWithUs: boolean,
): ChildProcess {
  const command = diesWithUs && setprivFound() ? ['setpriv', '--pdeathsig', 'KILL', '--', ...argv] : argv;
  const secretFd = secret === undefined ? undefined : openSecretFd(secret);
  try {
    return spawn(command[0]!, command.slice(1), {
      stdio: ['ignore', 'ignore', 'pipe', ...(secretFd === undefined ? [] : [secretFd])],
      detached: true,
      env: qemuNbdEnv(childEnv()),
    });
  } finally {
    // qemu-nbd has its own copy (it reads the secret as it starts); ours goes at once.
    if (secretFd !== undefined) closeSync(secretFd);
  }
}

/** A spawned qemu-nbd as it is watched: what it said, whether it was asked to stop, and its exit. */
export class WatchedChild {
  stderr = '';
  requested = false;
  /** Set once it has exited. */
  exit: QemuNbdExit | undefined;
  readonly exited: Promise<QemuNbdExit>;
  readonly listeners: ((exit: QemuNbdExit) => void)[] = [];

  constructor(readonly child: ChildProcess) {
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-STDERR_LIMIT);
    });
    const ended = (exitCode: number | null, signal: NodeJS.Signals | null): QemuNbdExit =>
      Object.freeze({ exitCode, signal, requested: this.requested, stderr: this.stderr });
    this.exited = new Promise<QemuNbdExit>((resolve) => {
      child.on('error', (error) => {
        this.stderr ||= error.message;
        if (child.pid === undefined) resolve(ended(null, null));
      });
      // 'close' (not 'exit'): stderr is fully read by then.
      child.on('close', (exitCode, signal) => resolve(ended(exitCode, signal)));
    });
    void this.exited.then((value) => {
      this.exit = value;
      for (const listener of this.listeners.splice(0)) listener(value);
    });
  }
}

// The handle startQemuNbd gives: what it serves, its exit, and its stop.
export function qemuNbdHandle(
  options: QemuNbdOptions,
  argv: readonly string[],
  url: string,
  watched: WatchedChild,
): QemuNbd {
  const { child, exited } = watched;
  let stopping: Promise<void> | undefined;
  return Object.freeze({
    pid: child.pid ?? -1,
    argv: Object.freeze(argv),
    url,
    port: options.port,
    socket: options.socket,
    exportName: options.exportName,
    stderrText: () => watched.stderr,
    exited,
    onExit(listener: (exit: QemuNbdExit) => void) {
      if (watched.exit !== undefined) listener(watched.exit);
      else watched.listeners.push(listener);
    },
    stop(timeoutMs = 5000) {
      stopping ??= (async () => {
        if (watched.exit !== undefined || child.pid === undefined) return;
        watched.requested = true;
        const pid = child.pid;
        const gone = () => watched.exit !== undefined;
        const wait = (ms: number) => Promise.race([exited.then(() => true), sleep(ms).then(gone)]);
        signalProcess(pid, 'SIGTERM');
        if (await wait(timeoutMs)) return;
        signalProcess(pid, 'SIGKILL');
        if (!(await wait(5000))) throw new Error(`qemu-nbd ${pid} survived SIGKILL`);
      })();
      return stopping;
    },
  });
}

// Whether setpriv (util-linux) is on PATH; asked once.
let setpriv: boolean | undefined;
function setprivFound(): boolean {
  setpriv ??= (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir || '.', 'setpriv'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  return setpriv;
}
